#!/usr/bin/env python3
"""cgsum: sums one callgrind dump into the groups of docs/BENCHMARKS.md.

Usage: cgsum.py DUMP DIVISOR LABEL [TOP]
Prints instructions per unit (Ir / DIVISOR), self cost per group, the top
functions by self and by inclusive cost, and calls to the allocator per
unit.  Reads the callgrind format directly (name compression, "calls="
lines) so nothing depends on callgrind_annotate's layout.
"""
import collections
import os
import re
import sys

ALLOC = {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
         "aligned_alloc", "memalign"}
FREE = {"free", "cfree"}
# libc's system call wrappers the agent's loop uses (libuv calls them).
SYSCALLS = ("read", "readv", "write", "writev", "sendmsg", "recvmsg",
            "sendto", "recvfrom", "epoll_wait", "epoll_pwait", "epoll_ctl",
            "accept4", "connect", "close", "setsockopt", "getsockopt")
MALLOC_INTERNAL = re.compile(r"^(_int_malloc|_int_free|_int_realloc|"
                             r"malloc_consolidate|tcache_|unlink_chunk|"
                             r"_int_memalign|sysmalloc|malloc$|calloc$|"
                             r"realloc$|free$|cfree|__libc_malloc|"
                             r"__libc_free|__libc_calloc|__libc_realloc|"
                             r"alloc_perturb|arena_get|checked_request)")


def group(ob, fl, fn):
	obb = os.path.basename(ob)
	if obb.startswith("libnghttp2"):
		return "nghttp2"
	if obb.startswith("libhttp_parser"):
		return "http-parser"
	if obb.startswith("libsodium") or obb.startswith("libcrypto"):
		return "Noise/AEAD (libsodium, OpenSSL)"
	if obb.startswith("libuv"):
		return "libuv"
	if obb.startswith("libc.so") or obb.startswith("libc-"):
		if MALLOC_INTERNAL.match(fn):
			return "malloc/free"
		if re.match(r"^__(memcpy|memmove|memset|memcmp|memchr|strlen|"
		            r"strchr|strcmp|strncmp|strncasecmp|strcasecmp|"
		            r"strnlen|stpcpy|rawmemchr)", fn) or fn in (
			"memcpy", "memmove", "memset", "memcmp", "strlen"):
			return "libc mem*/str*"
		if re.match(r"^(__)?v?s?n?printf|^__vfprintf|printf_|"
		            r"^_IO_|^__printf|^_itoa|^__strchrnul", fn):
			return "libc printf"
		return "libc other (syscall stubs, clock)"
	if obb.startswith("libjansson") or obb.startswith("libmsgpack"):
		return "jansson/msgpack"
	if obb.startswith("ld-linux") or obb.startswith("ld-"):
		return "ld.so"
	if obb == "weftd":
		for d in ("proxy", "agent", "crypto", "gossip", "common"):
			if "/" + d + "/" in fl or fl.startswith(d + "/"):
				return "weft " + d + "/"
		return "weft (other)"
	return "other: " + obb


def label(ob, fn):
	"""Stripped libraries show addresses: name the library too."""
	if fn.startswith("0x"):
		return os.path.basename(ob).split(".so")[0] + ":" + fn[-6:]
	return fn


def parse(path):
	names = {"ob": {}, "fl": {}, "fn": {}}
	cur = {"ob": "", "fl": "", "fn": ""}
	cfn = cob = None
	self_cost = collections.Counter()
	incl_call = collections.Counter()   # cost of calls made, per caller
	calls_to = collections.Counter()    # call count per callee name
	alloc_from = collections.Counter()  # allocator calls per caller
	callers = collections.Counter()     # (callee, caller): inclusive cost
	pending = None
	fn_key = {}
	total = 0
	after_calls = False

	def resolve(kind, text):
		m = re.match(r"\((\d+)\)(?: (.*))?$", text)
		if not m:
			return text
		if m.group(2) is not None:
			names[kind][m.group(1)] = m.group(2)
			return m.group(2)
		return names[kind].get(m.group(1), "?")

	with open(path, errors="replace") as f:
		for line in f:
			line = line.rstrip("\n")
			if not line:
				continue
			c = line[0]
			if c.isdigit() or c in "+-*":
				parts = line.split()
				cost = int(parts[1]) if len(parts) > 1 else 0
				key = (cur["ob"], cur["fl"], cur["fn"])
				if after_calls:
					incl_call[key] += cost
					callers[pending] += cost
					after_calls = False
				else:
					self_cost[key] += cost
				continue
			k, _, v = line.partition("=")
			if k in ("ob", "fl", "fn"):
				cur[k] = resolve(k, v)
				if k == "fn":
					cob = None
			elif k in ("fi", "fe"):
				cur["fl"] = resolve("fl", v)
			elif k == "cob":
				cob = resolve("ob", v)
			elif k in ("cfi", "cfl"):
				resolve("fl", v)
			elif k == "cfn":
				cfn = resolve("fn", v)
			elif k == "calls":
				calls_to[cfn] += int(v.split()[0])
				pending = (label(cob or cur["ob"], cfn),
				    label(cur["ob"], cur["fn"]))
				if cfn in ALLOC:
					alloc_from[label(cur["ob"], cur["fn"])] += \
					    int(v.split()[0])
				after_calls = True
			elif k == "summary" or k == "totals":
				total = max(total, int(v.split()[0]))
	if not total:
		total = sum(self_cost.values())
	return self_cost, incl_call, calls_to, alloc_from, callers, total


def main():
	path, div, title = sys.argv[1], float(sys.argv[2]), sys.argv[3]
	top = int(sys.argv[4]) if len(sys.argv) > 4 else 12
	who = sys.argv[5:]  # functions whose callers to list
	self_cost, incl_call, calls_to, alloc_from, callers, total = \
	    parse(path)
	groups = collections.Counter()
	fself = collections.Counter()
	fincl = collections.Counter()
	for (ob, fl, fn), c in self_cost.items():
		groups[group(ob, fl, fn)] += c
		fself[label(ob, fn)] += c
		fincl[label(ob, fn)] += c
	for (ob, fl, fn), c in incl_call.items():
		fincl[label(ob, fn)] += c
	allocs = sum(calls_to[n] for n in ALLOC)
	frees = sum(calls_to[n] for n in FREE)
	print(f"### {title}: {total / div:,.0f} instructions per unit "
	      f"({total:,} / {div:,.0f})")
	print(f"allocator calls per unit: {allocs / div:.2f} "
	      f"malloc/calloc/realloc, {frees / div:.2f} free")
	sys_calls = [(n, calls_to[n] / div) for n in SYSCALLS
	             if calls_to[n] / div >= 0.005]
	print("system calls per unit: " + ", ".join(
	    f"{n} {v:.2f}" for n, v in sys_calls) + f" (total "
	    f"{sum(v for _, v in sys_calls):.2f})")
	print()
	print("| group (self) | Ir per unit | share |")
	print("|---|---:|---:|")
	for g, c in groups.most_common():
		if c / total < 0.001:
			continue
		print(f"| {g} | {c / div:,.0f} | {100 * c / total:.1f}% |")
	print()
	print("| function | self Ir/unit | inclusive Ir/unit |")
	print("|---|---:|---:|")
	for fn, c in fself.most_common(top):
		print(f"| {fn} | {c / div:,.0f} | {fincl[fn] / div:,.0f} |")
	print()
	print("allocations per unit by caller: " + ", ".join(
	    f"{fn} {c / div:.2f}" for fn, c in alloc_from.most_common(8)))
	for fn in who:
		print(f"callers of {fn} (inclusive Ir per unit): " + ", ".join(
		    f"{c} {v / div:,.0f}" for (e, c), v in sorted(
		        callers.items(), key=lambda kv: -kv[1])
		    if e == fn and v / div >= 1)[:8 * 30])
	print()
	print("top inclusive (recursion counted once per call site):")
	for fn, c in fincl.most_common(top + 8):
		if c > total * 1.05:
			continue
		print(f"  {c / div:>12,.0f}  {fn}")


if __name__ == "__main__":
	main()
