#!/usr/bin/env bash
# CLI tests: run the real `weft` binary.
#
#   cli_test.sh WEFT JSON_GET CASE
#
# Each CASE is one function below and one meson test, in its own temporary
# directory, removed on exit.
set -euo pipefail

# meson may pass paths relative to the build directory; the cases run
# elsewhere.
WEFT=$(readlink -f "$1")
JSON_GET=$(readlink -f "$2")
CASE=$3

# The agent cases talk to tests/cli/fake_weftd, named by FAKE_WEFTD.
FAKE=${FAKE_WEFTD:+$(readlink -f "$FAKE_WEFTD")}
FAKE_PID=

T=$(mktemp -d "${TMPDIR:-/tmp}/weft-cli.XXXXXX")
cleanup() {
	if [[ -n $FAKE_PID ]]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T"

fail() {
	echo "FAIL [$CASE]: $*" >&2
	for f in out err; do
		if [[ -s $T/$f ]]; then
			echo "--- std$f of the last command:" >&2
			cat "$T/$f" >&2
		fi
	done
	exit 1
}

# run RC CMD...: runs weft with CMD, expects exit status RC; its stdout and
# stderr are left in $T/out and $T/err.
run() {
	local want=$1 got=0
	shift
	"$WEFT" "$@" >"$T/out" 2>"$T/err" || got=$?
	# Under ASan a leak also exits 1; do not let it pass for an
	# expected failure.
	if grep -qE 'Sanitizer|runtime error:' "$T/err"; then
		fail "weft $*: sanitizer report"
	fi
	[[ $got == "$want" ]] || fail "weft $*: exit $got, want $want"
}

# has FILE TEXT: FILE contains TEXT (fixed string).
has() {
	grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"
}
hasnt() {
	if grep -qF -- "$2" "$1"; then fail "$1 has '$2'"; fi
}
# line_is FILE REGEX: some line of FILE matches REGEX entirely.
line_is() {
	grep -qE -- "^$2\$" "$1" || fail "$1 has no line matching '$2'"
}
# json PATH: the value at PATH of the JSON in $T/out.
json() {
	"$JSON_GET" "$1" <"$T/out" || fail "no JSON value at $1"
}
eq() {
	[[ $1 == "$2" ]] || fail "${3:-value}: got '$1', want '$2'"
}
mode() {
	stat -c %a "$1"
}
# The key id of the first certificate in a file.
key_id() {
	run 0 cert inspect "$1" --json
	json certificates.0.key_id
}

make_ca() { # DIR NAME [args]
	local dir=$1 name=$2
	shift 2
	run 0 ca init --name "$name" --out "$dir" "$@"
}
make_node() { # CA NAME [args]
	local ca=$1 name=$2
	shift 2
	run 0 cert issue --ca "$ca" --name "$name" --out nodes "$@"
}

# unhex HEX: the bytes.  (xxd may not be installed.)
unhex() {
	printf '%b' "$(sed 's/../\\x&/g' <<<"$1")"
}
body_hex() {
	sed -e '/^-----/d' "$1" | tr -d '\n' | base64 -d | od -An -v -tx1 |
		tr -d ' \n'
}
# tamper HEX OUT OFFSET: OUT is the certificate whose bytes are HEX (see
# body_hex), with the byte at OFFSET flipped, armoured again.
tamper() {
	local hex=$1 out=$2 off=$3 b
	b=${hex:$((off * 2)):2}
	b=$(printf '%02x' $((0x$b ^ 0x01)))
	{
		echo "-----BEGIN WEFT CERTIFICATE-----"
		unhex "${hex:0:$((off * 2))}$b${hex:$((off * 2 + 2))}" |
			base64 -w 64
		echo "-----END WEFT CERTIFICATE-----"
	} >"$out"
}

case_help() {
	run 0 --help
	has out "usage: weft"
	for c in "ca init" "cert issue" "cert inspect" "cert verify" \
		"cert revoke" members services info join leave reload \
		monitor "revoke apply"; do
		has out "$c"
	done
	has out "3 weftd not"
	[[ ! -s $T/err ]] || fail "--help wrote to stderr"
	run 0 --version
	line_is out 'weft [0-9]+\.[0-9]+\.[0-9]+'
	run 0 ca --help
	has out "init"
	run 0 cert --help
	has out "revoke"
	run 0 ca init --help
	has out "usage: weft ca init --name NAME --out DIR"
	has out "--valid"
	for c in issue inspect verify revoke; do
		run 0 cert "$c" --help
		has out "usage: weft cert $c"
	done
	run 0 cert issue -h
	has out "--services"
	# Output that cannot be written is a failure, not a silent success.
	if [[ -w /dev/full ]]; then
		if "$WEFT" --help >/dev/full 2>"$T/err"; then
			fail "--help into a full device exited 0"
		fi
		has err "weft: standard output: write error"
	fi
}

case_usage() {
	run 2
	has err "missing command"
	has err "usage: weft"
	run 2 frob
	has err "unknown command 'frob'"
	run 2 cert frob
	has err "unknown command 'frob'"
	has err "usage: weft cert"
	run 2 ca
	has err "missing command"
	run 2 --bogus
	has err "unknown option --bogus"
	run 2 ca init --name x --out d --bogus
	has err "unknown option --bogus"
	has err "usage: weft ca init"
	[[ ! -s $T/out ]] || fail "a usage error wrote to stdout"
	[[ ! -e d ]] || fail "a usage error created the output directory"
	run 2 ca init --name x --out d --bogus=1
	has err "unknown option --bogus"
	run 2 ca init --name x
	has err "missing --out DIR"
	run 2 ca init --out d
	has err "missing --name NAME"
	run 2 ca init --out d --name
	has err "--name needs a value"
	run 2 ca init --name x --out d stray
	has err "unexpected argument 'stray'"
	run 2 ca init --name x --name y --out d
	has err "--name given twice"
	run 2 ca init --name x --out d -v
	has err "unknown option -v"
	run 2 ca init --name x --out d --valid 10x
	has err "--valid '10x' is not a duration"
	run 2 ca init --name x --out d --valid 0
	run 2 ca init --name x --out d --valid 5
	run 2 ca init --name x --out d --valid ''
	run 2 ca init --name x --out d --valid 99999999999999999999y
	run 2 cert inspect
	has err "missing argument"
	run 2 cert inspect a b
	has err "unexpected argument 'b'"
	run 2 cert inspect a --json=yes
	has err "--json takes no value"
	run 2 cert verify x.crt
	has err "missing --ca BUNDLE"
	run 2 cert verify --ca b.crt
	has err "missing argument"
	run 2 cert verify --ca b.crt x.crt --skew 5q
	has err "--skew '5q' is not a duration"
	run 2 cert revoke --ca d --key-id zz --out r
	has err "--key-id 'zz' is not a key id"
	run 2 cert revoke --ca d --out r
	has err "missing --key-id HEX"
	run 2 --version extra
	[[ ! -e d ]] || fail "a usage error created the output directory"
}

case_ca_init() {
	make_ca ca acme
	has out "created CA acme (key id"
	[[ -f ca/ca.crt && -f ca/ca.key ]] || fail "ca.crt or ca.key missing"
	eq "$(mode ca/ca.key)" 600 "mode of ca.key"
	eq "$(mode ca/ca.crt)" 644 "mode of ca.crt"
	eq "$(mode ca)" 700 "mode of the new CA directory"
	line_is ca/ca.crt '-----BEGIN WEFT CERTIFICATE-----'
	line_is ca/ca.key '-----BEGIN WEFT PRIVATE KEY-----'
	run 0 cert inspect ca/ca.crt --json
	eq "$(json certificates.length)" 1 "certificates"
	eq "$(json certificates.0.name)" acme name
	eq "$(json certificates.0.kind)" ca kind
	eq "$(json certificates.0.issuer)" "$(json certificates.0.key_id)" \
		"issuer of a self-signed CA"
	eq "$(json certificates.0.x25519)" null x25519
	local nb na
	nb=$(json certificates.0.not_before_unix)
	na=$(json certificates.0.not_after_unix)
	# Default 10 years of 365 days, plus the minute of backdating.
	eq "$((na - nb))" "$((10 * 365 * 86400 + 60))" "default validity"

	# Nested output directories are created; --valid=VALUE works.
	make_ca a/b/c short --valid=30d
	run 0 cert inspect a/b/c/ca.crt --json
	nb=$(json certificates.0.not_before_unix)
	na=$(json certificates.0.not_after_unix)
	eq "$((na - nb))" "$((30 * 86400 + 60))" "--valid 30d"

	# A bad CA name is refused before anything is written.
	run 2 ca init --name Acme_Corp --out bad
	has err "--name 'Acme_Corp' is not a valid name"
	[[ ! -e bad ]] || fail "a refused ca init created its directory"
}

case_no_overwrite() {
	make_ca ca acme
	local before
	before=$(cat ca/ca.crt ca/ca.key | cksum)
	run 1 ca init --name acme --out ca
	has err "ca/ca.key: already exists; refusing to overwrite it"
	eq "$(cat ca/ca.crt ca/ca.key | cksum)" "$before" "CA files"

	# A lone ca.crt is not overwritten either, and no key appears.
	mkdir half
	echo keep >half/ca.crt
	run 1 ca init --name acme --out half
	has err "half/ca.crt: already exists"
	[[ ! -e half/ca.key ]] || fail "ca.key written next to a kept ca.crt"
	eq "$(cat half/ca.crt)" keep "the existing ca.crt"

	make_node ca web-1
	before=$(cat nodes/web-1.crt nodes/web-1.key | cksum)
	run 1 cert issue --ca ca --name web-1 --out nodes
	has err "nodes/web-1.key: already exists; refusing to overwrite it"
	eq "$(cat nodes/web-1.crt nodes/web-1.key | cksum)" "$before" \
		"node files"
	rm nodes/web-1.key
	run 1 cert issue --ca ca --name web-1 --out nodes
	has err "nodes/web-1.crt: already exists"
	[[ ! -e nodes/web-1.key ]] || fail "key written next to a kept cert"

	run 0 cert revoke --ca ca --key-id 0011223344556677 --out rev
	before=$(cksum <rev)
	run 1 cert revoke --ca ca --key-id 0011223344556677 --out rev
	has err "rev: already exists"
	eq "$(cksum <rev)" "$before" "revocation file"
}

case_issue() {
	make_ca ca acme
	local ca_id
	ca_id=$(key_id ca/ca.crt)
	make_node ca web-1 --services web,api --groups prod,edge
	has out "issued web-1 (key id"
	has out "by CA acme (key id $ca_id)"
	make_node ca db-1 --services postgres --valid 90d
	eq "$(mode nodes/web-1.key)" 600 "mode of web-1.key"
	eq "$(mode nodes/web-1.crt)" 644 "mode of web-1.crt"
	eq "$(mode nodes)" 700 "mode of the new output directory"
	line_is nodes/web-1.key '-----BEGIN WEFT PRIVATE KEY-----'

	run 0 cert inspect nodes/web-1.crt --json
	eq "$(json certificates.0.name)" web-1 name
	eq "$(json certificates.0.kind)" node kind
	eq "$(json certificates.0.issuer)" "$ca_id" issuer
	eq "$(json certificates.0.services.length)" 2 "number of services"
	eq "$(json certificates.0.groups.length)" 2 "number of groups"
	# The certificate's order is its own (canonical); compare as sets.
	eq "$(json certificates.0.services | tr , '\n' | sort | paste -sd,)" \
		api,web services
	eq "$(json certificates.0.groups | tr , '\n' | sort | paste -sd,)" \
		edge,prod groups
	local nb na
	nb=$(json certificates.0.not_before_unix)
	na=$(json certificates.0.not_after_unix)
	eq "$((na - nb))" "$((365 * 86400 + 60))" "default node validity"
	run 0 cert inspect nodes/db-1.crt --json
	nb=$(json certificates.0.not_before_unix)
	na=$(json certificates.0.not_after_unix)
	eq "$((na - nb))" "$((90 * 86400 + 60))" "--valid 90d"
	eq "$(json certificates.0.groups.length)" 0 "groups when none given"

	# Each node gets its own keys.
	[[ $(key_id nodes/web-1.crt) != "$(key_id nodes/db-1.crt)" ]] ||
		fail "two nodes share a key id"

	# Without services or groups.
	make_node ca bare
	run 0 cert inspect nodes/bare.crt --json
	eq "$(json certificates.0.services.length)" 0 services
}

case_bad_names() {
	make_ca ca acme
	run 2 cert issue --ca ca --name web-1 --services web,Bad_svc --out n
	has err "--services: 'Bad_svc' is not a valid name"
	run 2 cert issue --ca ca --name web-1 --groups prod,-x --out n
	has err "--groups: '-x' is not a valid name"
	run 2 cert issue --ca ca --name web-1 --services web,,api --out n
	has err "an empty name in the list"
	run 2 cert issue --ca ca --name web-1 --services web, --out n
	has err "an empty name in the list"
	run 2 cert issue --ca ca --name web-1 --services web,web --out n
	has err "'web' given twice"
	run 2 cert issue --ca ca --name Web.1 --out n
	has err "--name 'Web.1' is not a valid node name"
	run 2 cert issue --ca ca --name "$(printf 'a%.0s' {1..64})" --out n
	has err "is not a valid node name"
	local many
	many=$(printf 's%d,' {1..65})
	run 2 cert issue --ca ca --name web-1 --services "${many%,}" --out n
	has err "--services: more than 64 names"
	many=$(printf 'g%d,' {1..33})
	run 2 cert issue --ca ca --name web-1 --groups "${many%,}" --out n
	has err "--groups: more than 32 names"
	[[ ! -e n ]] || fail "a refused issue created its output directory"
	# The limits themselves are fine.
	many=$(printf 's%d,' {1..64})
	make_node ca web-1 --services "${many%,}"
	run 0 cert inspect nodes/web-1.crt --json
	eq "$(json certificates.0.services.length)" 64 "services"
}

case_key_mode() {
	make_ca ca acme
	chmod 644 ca/ca.key
	run 1 cert issue --ca ca --name web-1 --out nodes
	has err "weft: ca/ca.key: readable by group or others (mode 0644); chmod 600 it"
	eq "$(wc -l <"$T/err")" 1 "lines of the error"
	[[ ! -e nodes ]] || fail "issue went on with an exposed CA key"
	chmod 620 ca/ca.key
	run 1 cert issue --ca ca --name web-1 --out nodes
	has err "writable by group or others (mode 0620); chmod 600 it"
	chmod 604 ca/ca.key
	run 1 cert revoke --ca ca --key-id 0011223344556677 --out rev
	has err "readable by group or others (mode 0604)"
	[[ ! -e rev ]] || fail "revoke went on with an exposed CA key"
	chmod 600 ca/ca.key
	make_node ca web-1

	# Other CA directory problems, each named.
	run 1 cert issue --ca nowhere --name x --out nodes
	has err "nowhere/ca.key: no such file"
	mkdir other
	cp ca/ca.key other/
	run 1 cert issue --ca other --name x --out nodes
	has err "other/ca.crt: no such file"
	make_ca ca2 second
	cp ca2/ca.crt other/ca.crt
	run 1 cert issue --ca other --name x --out nodes
	has err "do not belong together"
	cp nodes/web-1.crt other/ca.crt
	run 1 cert issue --ca other --name x --out nodes
	has err "other/ca.crt: a node certificate, not a CA certificate"
	mkdir nodeca
	cp nodes/web-1.key nodeca/ca.key
	cp ca/ca.crt nodeca/ca.crt
	run 1 cert issue --ca nodeca --name x --out nodes
	has err "nodeca/ca.key: a node key, not a CA key"
	mkdir junk
	echo "not a key" >junk/ca.key
	chmod 600 junk/ca.key
	run 1 cert issue --ca junk --name x --out nodes
	has err "junk/ca.key: not a weft private key"
}

case_outlive() {
	make_ca ca acme --valid 30d
	run 1 cert issue --ca ca --name web-1 --out nodes
	has err "weft: --valid: 1y would outlive the CA"
	[[ ! -e nodes/web-1.crt ]] || fail "issued past the CA's end"
	run 1 cert issue --ca ca --name web-1 --valid 31d --out nodes
	has err "31d would outlive the CA"
	make_node ca web-1 --valid 29d
	run 0 cert inspect nodes/web-1.crt --json
	local node_na node_nb
	node_na=$(json certificates.0.not_after_unix)
	node_nb=$(json certificates.0.not_before_unix)
	run 0 cert inspect ca/ca.crt --json
	((node_na <= $(json certificates.0.not_after_unix))) ||
		fail "node certificate ends after its CA"
	((node_nb >= $(json certificates.0.not_before_unix))) ||
		fail "node certificate starts before its CA"
}

case_inspect() {
	make_ca ca acme
	make_node ca web-1 --services web,api --groups prod
	local id ca_id
	ca_id=$(key_id ca/ca.crt)
	id=$(key_id nodes/web-1.crt)
	run 0 cert inspect nodes/web-1.crt --json
	local ed x nb na
	ed=$(json certificates.0.ed25519)
	x=$(json certificates.0.x25519)
	nb=$(json certificates.0.not_before)
	na=$(json certificates.0.not_after)
	[[ $ed =~ ^[0-9a-f]{64}$ ]] || fail "ed25519 '$ed' is not 32 bytes hex"
	[[ $x =~ ^[0-9a-f]{64}$ ]] || fail "x25519 '$x' is not 32 bytes hex"
	[[ $ed != "$x" ]] || fail "the two public keys are the same"
	[[ $nb =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
		fail "not_before '$nb' is not ISO 8601 UTC"
	[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "key id '$id' is not 8 bytes hex"
	eq "$(json file)" nodes/web-1.crt file
	eq "$(json revocations.length)" 0 revocations
	local left
	left=$(json certificates.0.seconds_left)
	((left > 364 * 86400 && left <= 365 * 86400)) ||
		fail "seconds_left $left for a one-year certificate"
	[[ $(json certificates.0.time_left) =~ ^expires\ in\ (36[45]\ days|1\ year)$ ]] ||
		fail "time_left '$(json certificates.0.time_left)'"

	# The text form shows the same.
	run 0 cert inspect nodes/web-1.crt
	line_is out ' *name: +web-1'
	line_is out ' *kind: +node'
	line_is out " *key id: +$id"
	line_is out " *issuer: +$ca_id"
	line_is out ' *services: +(api, web|web, api)'
	line_is out ' *groups: +prod'
	line_is out " *not before: +$nb"
	line_is out " *not after: +$na"
	line_is out ' *time left: +expires in .*'
	line_is out " *ed25519: +$ed"
	line_is out " *x25519: +$x"
	run 0 cert inspect ca/ca.crt
	line_is out ' *kind: +CA'
	line_is out " *issuer: +$ca_id \\(self-signed\\)"

	# A bundle: every certificate in it.
	make_ca ca2 second
	cat ca/ca.crt ca2/ca.crt nodes/web-1.crt >all.crt
	run 0 cert inspect all.crt --json
	eq "$(json certificates.length)" 3 "certificates in the bundle"
	eq "$(json certificates.1.name)" second "second certificate"
	eq "$(json certificates.2.name)" web-1 "third certificate"
	run 0 cert inspect all.crt
	eq "$(grep -c '^certificate$' "$T/out")" 3 "certificates listed"

	# Comments around the blocks are fine.
	{ echo "# web-1, issued by acme"; cat nodes/web-1.crt; echo; } >c.crt
	run 0 cert inspect c.crt
	line_is out ' *name: +web-1'

	# What is not there, or not a certificate, is named.
	run 1 cert inspect missing.crt
	has err "weft: missing.crt: no such file"
	echo "hello" >empty.crt
	run 1 cert inspect empty.crt
	has err "weft: empty.crt: no WEFT CERTIFICATE or WEFT REVOCATION block"
	run 1 cert inspect nodes/web-1.key
	has err "a private key"
	hasnt out "PRIVATE"
	body_hex nodes/web-1.crt >hex
	{
		echo "-----BEGIN WEFT CERTIFICATE-----"
		unhex "$(head -c 40 hex)" | base64 -w 64
		echo "-----END WEFT CERTIFICATE-----"
	} >short.crt
	run 1 cert inspect short.crt
	has err "short.crt: certificate 1: cannot decode it"
	sed '$d' nodes/web-1.crt >noend.crt
	run 1 cert inspect noend.crt
	has err "noend.crt: certificate 1: broken armour"
}

case_verify() {
	make_ca ca acme
	make_node ca web-1 --services web
	make_node ca api-1
	local id
	id=$(key_id nodes/web-1.crt)
	run 0 cert verify --ca ca/ca.crt nodes/web-1.crt
	line_is out "nodes/web-1.crt: valid \\(node web-1, key id $id, expires in .*\\)"
	run 0 cert verify --ca=ca/ca.crt nodes/api-1.crt --skew 0
	has out "valid (node api-1"
	run 0 cert verify --ca ca/ca.crt nodes/api-1.crt --skew 1h
	# A CA certificate is not a node certificate.
	run 1 cert verify --ca ca/ca.crt ca/ca.crt
	has out "ca/ca.crt: invalid:"
	# Nor is a node certificate a CA.
	run 1 cert verify --ca nodes/web-1.crt nodes/api-1.crt
	has err "nodes/web-1.crt: certificate 1: not a usable CA certificate"
	run 1 cert verify --ca missing.crt nodes/api-1.crt
	has err "missing.crt: no such file"
	run 1 cert verify --ca ca/ca.crt missing.crt
	has err "missing.crt: no such file"
	echo nothing >none.crt
	run 1 cert verify --ca ca/ca.crt none.crt
	has out "none.crt: invalid: no certificate in the file"
}

# Every single byte of the encoded certificate, flipped, is refused.
case_tamper() {
	make_ca ca acme
	make_node ca web-1 --services web
	local hex n i
	hex=$(body_hex nodes/web-1.crt)
	n=$((${#hex} / 2))
	((n > 100)) || fail "certificate of only $n bytes"
	for ((i = 0; i < n; i++)); do
		tamper "$hex" t.crt "$i"
		run 1 cert verify --ca ca/ca.crt t.crt
		grep -qE '^t\.crt: invalid: .+' "$T/out" ||
			fail "byte $i flipped: no reason given"
		hasnt out "valid (node"
	done
	# Flipping the same byte twice gives the certificate back: the
	# helper re-armours faithfully, so the refusals above are real.
	tamper "$hex" t.crt 0
	tamper "$(body_hex t.crt)" same.crt 0
	run 0 cert verify --ca ca/ca.crt same.crt
	# A flipped bit of the node's public key still decodes: the
	# signature is what catches it.
	local ed pre
	run 0 cert inspect nodes/web-1.crt --json
	ed=$(json certificates.0.ed25519)
	pre=${hex%%"$ed"*}
	[[ $pre != "$hex" ]] || fail "public key not found in the encoding"
	tamper "$hex" t.crt $((${#pre} / 2 + 5))
	run 1 cert verify --ca ca/ca.crt t.crt
	has out "invalid: bad signature"
}

case_wrong_ca() {
	make_ca ca acme
	make_ca ca2 other
	make_node ca web-1
	local ca_id
	ca_id=$(key_id ca/ca.crt)
	run 1 cert verify --ca ca2/ca.crt nodes/web-1.crt
	has out "nodes/web-1.crt: invalid: signed by unknown CA $ca_id"
}

case_bundle() {
	make_ca ca1 one
	make_ca ca2 two
	make_ca ca3 three
	make_node ca1 web-1
	make_node ca2 db-1
	make_node ca3 x-1
	local id3
	id3=$(key_id ca3/ca.crt)
	cat ca1/ca.crt ca2/ca.crt >bundle.crt
	run 0 cert verify --ca bundle.crt nodes/web-1.crt
	has out "valid (node web-1"
	run 0 cert verify --ca bundle.crt nodes/db-1.crt
	has out "valid (node db-1"
	run 1 cert verify --ca bundle.crt nodes/x-1.crt
	has out "signed by unknown CA $id3"
	# The same CA twice is a broken bundle, and says which block.
	cat ca1/ca.crt ca2/ca.crt ca1/ca.crt >dup.crt
	run 1 cert verify --ca dup.crt nodes/web-1.crt
	has err "dup.crt: certificate 3:"
	echo "nothing here" >empty.crt
	run 1 cert verify --ca empty.crt nodes/web-1.crt
	has err "weft: empty.crt:"
}

case_revoke() {
	make_ca ca acme
	make_node ca web-1
	local id ca_id ca_na
	id=$(key_id nodes/web-1.crt)
	ca_id=$(key_id ca/ca.crt)
	run 0 cert inspect ca/ca.crt --json
	ca_na=$(json certificates.0.not_after)
	run 0 cert revoke --ca ca --key-id "$id" --reason "disk stolen" \
		--out web-1.rev
	has out "revoked key id $id"
	eq "$(mode web-1.rev)" 644 "mode of the revocation"
	line_is web-1.rev '-----BEGIN WEFT REVOCATION-----'
	run 0 cert inspect web-1.rev
	line_is out 'revocation'
	line_is out " *key id: +$id"
	line_is out ' *reason: +disk stolen'
	line_is out " *issuer: +$ca_id"
	line_is out " *until: +$ca_na"
	run 0 cert inspect web-1.rev --json
	eq "$(json revocations.length)" 1 revocations
	eq "$(json certificates.length)" 0 certificates
	eq "$(json revocations.0.key_id)" "$id" "key id"
	eq "$(json revocations.0.reason)" "disk stolen" reason
	eq "$(json revocations.0.issuer)" "$ca_id" issuer
	eq "$(json revocations.0.until)" "$ca_na" "until (the CA's end)"
	local at now
	at=$(json revocations.0.revoked_at_unix)
	now=$(date +%s)
	((at <= now && at > now - 600)) || fail "revoked_at $at is not now"

	# --until as a date, a UTC time and a duration.
	run 0 cert revoke --ca ca --key-id "$id" --until 2030-01-31 --out r1
	run 0 cert inspect r1 --json
	eq "$(json revocations.0.until)" 2030-01-31T00:00:00Z "--until date"
	eq "$(json revocations.0.reason)" unspecified "default reason"
	run 0 cert revoke --ca ca --key-id "$id" \
		--until 2031-06-01T12:30:00Z --out r2
	run 0 cert inspect r2 --json
	eq "$(json revocations.0.until)" 2031-06-01T12:30:00Z "--until time"
	run 0 cert revoke --ca ca --key-id "$id" --until 30d --out r3
	run 0 cert inspect r3 --json
	local u
	u=$(json revocations.0.until_unix)
	at=$(json revocations.0.revoked_at_unix)
	eq "$((u - at))" "$((30 * 86400))" "--until 30d"
	run 2 cert revoke --ca ca --key-id "$id" --until 2001-01-01 --out r4
	has err "is in the past"
	run 2 cert revoke --ca ca --key-id "$id" --until 2030-02-30 --out r4
	has err "--until '2030-02-30' is neither"
	run 2 cert revoke --ca ca --key-id "$id" --reason \
		"$(printf 'x%.0s' {1..201})" --out r4
	has err "--reason is longer than 200 bytes"
	run 2 cert revoke --ca ca --key-id "${id}00" --out r4
	has err "is not a key id"
	[[ ! -e r4 ]] || fail "a refused revoke wrote its file"

	# verify --revoked honours them, and only those a trusted CA signed.
	make_node ca api-1
	run 1 cert verify --ca ca/ca.crt nodes/web-1.crt --revoked web-1.rev
	has out "nodes/web-1.crt: invalid: key $id is revoked"
	run 0 cert verify --ca ca/ca.crt nodes/api-1.crt --revoked web-1.rev
	has out "valid (node api-1"
	cat r1 web-1.rev >two.rev
	run 1 cert verify --ca ca/ca.crt nodes/web-1.crt --revoked two.rev
	has out "is revoked"
	make_ca other rogue
	run 0 cert revoke --ca other --key-id "$(key_id nodes/api-1.crt)" \
		--out rogue.rev
	run 1 cert verify --ca ca/ca.crt nodes/api-1.crt --revoked rogue.rev
	has err "rogue.rev: revocation 1: not signed by a CA of the bundle"
	hasnt out "valid"
	run 1 cert verify --ca ca/ca.crt nodes/api-1.crt \
		--revoked nodes/api-1.crt
	has err "no WEFT REVOCATION block"

	# Revocations and certificates in one file are all shown.
	cat nodes/web-1.crt web-1.rev r1 >mixed
	run 0 cert inspect mixed --json
	eq "$(json certificates.length)" 1 certificates
	eq "$(json revocations.length)" 2 revocations
}

# ---- the agent commands, against tests/cli/fake_weftd ----

# fake_start: fake_weftd on $T/api.sock, answering from $T/api/.
fake_start() {
	[[ -n $FAKE ]] || fail "FAKE_WEFTD is not set"
	mkdir -p "$T/api"
	"$FAKE" "$T/api.sock" "$T/api" 2>"$T/fake.err" &
	FAKE_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -s $T/api/pid ]] && return 0
		sleep 0.05
	done
	fail "fake_weftd did not start"
}
fake_stop() {
	kill "$FAKE_PID"
	wait "$FAKE_PID" 2>/dev/null || true
	FAKE_PID=
}
# answer FILE HOW BODY: fake_weftd's answer to one method and path (see
# fake_weftd.c), e.g. answer GET_v1_members 200 '{...}'.
answer() {
	printf '%s\n%s' "$2" "$3" >"$T/api/$1"
}
# req N: the Nth request fake_weftd received, as it recorded it.
req() {
	[[ -f $T/api/req.$1 ]] || fail "no request $1 reached fake_weftd"
	echo "$T/api/req.$1"
}
# req_body N: its body.
req_body() {
	sed '1,/^$/d' "$(req "$1")"
}
n_requests() {
	find "$T/api" -name 'req.*' | wc -l
}
# col_at FILE LINE WORD: the column where WORD starts on line LINE.
col_at() {
	sed -n "$2p" "$1" | awk -v w="$3" '{ print index($0, w) }'
}

MEMBERS='{"members": [
 {"name": "db-1", "addr": "127.0.0.4:7370", "mesh_addr": "127.0.0.4:7371",
  "status": "failed", "incarnation": 3, "services": 1, "tags": [],
  "key_id": "3b1f0c9a2d4e5f61", "last_change_ms": 1764165000000,
  "self": false},
 {"name": "web-1", "addr": "127.0.0.2:7370", "mesh_addr": "127.0.0.2:7371",
  "status": "alive", "incarnation": 1, "services": 2,
  "tags": ["blue", "edge"], "key_id": "3b1f0c9a2d4e5f60",
  "last_change_ms": 1764165000000, "self": true},
 {"name": "a-very-long-member-name", "addr": "127.0.0.13:17370",
  "status": "suspect", "incarnation": 12345, "services": 0, "tags": [],
  "self": false}]}'

case_agent_members() {
	fake_start
	answer GET_v1_members 200 "$MEMBERS"
	run 0 members --socket "$T/api.sock"
	eq "$(wc -l <"$T/out")" 4 "lines of the table"
	line_is out 'NAME +ADDR +STATUS +INCARNATION +SERVICES +TAGS'
	line_is out 'db-1 +127\.0\.0\.4:7370 +failed +3 +1 +-'
	line_is out 'web-1 +127\.0\.0\.2:7370 +alive +1 +2 +blue,edge'
	line_is out 'a-very-long-member-name +127\.0\.0\.13:17370 +suspect +12345 +0 +-'
	# Columns line up under their heads, two spaces after the widest.
	local h
	for h in ADDR STATUS INCARNATION SERVICES TAGS; do
		local want got line
		want=$(col_at out 1 "$h")
		for line in 2 3 4; do
			got=$(sed -n "${line}p" out | cut -c"$want"-)
			[[ ${got:0:1} != " " && $(sed -n "${line}p" out |
				cut -c"$((want - 1))") == " " ]] ||
				fail "line $line: column $h not at $want"
		done
	done
	eq "$(col_at out 1 ADDR)" $((23 + 2 + 1)) "ADDR column"
	[[ ! -s $T/err ]] || fail "stderr not empty"
	has "$(req 1)" "GET /v1/members HTTP/1.1"
	has "$(req 1)" "Host: weft"

	run 0 members --socket "$T/api.sock" --json
	eq "$(json members.length)" 3 members
	eq "$(json members.1.name)" web-1 name
	eq "$(json members.1.tags)" blue,edge tags
	eq "$(json members.0.incarnation)" 3 incarnation
	# Pretty: one key a line.
	(($(wc -l <"$T/out") > 20)) || fail "--json is not indented"

	# A reply without the list is an error, not an empty table.
	answer GET_v1_members 200 '{"nodes": []}'
	run 1 members --socket "$T/api.sock"
	has err 'has no "members" list'
	answer GET_v1_members 200 '{"members": [1]}'
	run 1 members --socket "$T/api.sock"
	has err 'entry 1 of "members" is not an object'
	# Control characters from the agent do not reach the terminal.
	answer GET_v1_members 200 '{"members": [{"name": "x\u001b[31my"}]}'
	run 0 members --socket "$T/api.sock"
	hasnt out $'\e'
	has out 'x?[31my'
}

case_agent_services() {
	fake_start
	answer GET_v1_services 200 '{"services": [
	  {"name": "web", "endpoints": 2, "passing": 2},
	  {"name": "postgres", "endpoints": 1, "passing": 0}]}'
	answer GET_v1_services_web 200 '{"name": "web", "endpoints": [
	  {"node": "web-1", "addr": "127.0.0.2", "port": 8080,
	   "mesh_addr": "127.0.0.2:7371", "tags": ["blue"],
	   "labels": {"version": "v2", "zone": "a"}, "weight": 100,
	   "health": "passing", "status": "alive"},
	  {"node": "web-22", "addr": "127.0.0.22", "port": 80, "tags": [],
	   "labels": {}, "weight": 5, "health": "critical",
	   "status": "suspect"}]}'
	answer GET_v1_services_api 404 '{"error": "no member offers service api"}'
	run 0 services --socket "$T/api.sock"
	eq "$(wc -l <"$T/out")" 3 "lines"
	line_is out 'NAME +ENDPOINTS +PASSING'
	line_is out 'web +2 +2'
	line_is out 'postgres +1 +0'
	eq "$(col_at out 1 ENDPOINTS)" 11 "ENDPOINTS column"
	run 0 services web --socket "$T/api.sock"
	line_is out 'NODE +ADDR +PORT +HEALTH +STATUS +WEIGHT +TAGS +LABELS'
	line_is out 'web-1 +127\.0\.0\.2 +8080 +passing +alive +100 +blue +version=v2,zone=a'
	line_is out 'web-22 +127\.0\.0\.22 +80 +critical +suspect +5 +- +-'
	has "$(req 2)" "GET /v1/services/web HTTP/1.1"
	run 0 services web --socket "$T/api.sock" --json
	eq "$(json name)" web name
	eq "$(json endpoints.0.labels.version)" v2 label
	eq "$(json endpoints.1.port)" 80 port
	run 0 services --json --socket="$T/api.sock"
	eq "$(json services.1.name)" postgres name
	run 1 services api --socket "$T/api.sock"
	eq "$(cat "$T/err")" "weft: no member offers service api" "stderr"
	[[ ! -s $T/out ]] || fail "a refusal wrote to stdout"
	run 2 services 'a/b' --socket "$T/api.sock"
	has err "'a/b' is not a service name"
	run 2 services web api --socket "$T/api.sock"
	has err "unexpected argument 'api'"
}

case_agent_info() {
	fake_start
	local na left
	na=$(($(date +%s) + 86400 * 30))
	answer GET_v1_agent 200 '{"name": "web-1", "version": "0.1.0",
	 "addr": "127.0.0.2:7370", "mesh_addr": "127.0.0.2:7371",
	 "key_id": "3b1f0c9a2d4e5f60", "cert_not_after_unix": '"$na"',
	 "cert_expires_in_s": 2592000, "uptime_s": 3700,
	 "socket": "/run/weft/weftd.sock",
	 "members": {"alive": 3, "suspect": 1, "failed": 0, "left": 2}}'
	run 0 info --socket "$T/api.sock"
	line_is out 'name: +web-1'
	line_is out 'version: +0\.1\.0'
	line_is out 'address: +127\.0\.0\.2:7370'
	line_is out 'mesh address: +127\.0\.0\.2:7371'
	line_is out 'key id: +3b1f0c9a2d4e5f60'
	line_is out "certificate: +valid until $(date -u -d @"$na" +%FT%TZ) \\(expires in 30 days\\)"
	line_is out 'uptime: +1 hour'
	line_is out 'socket: +/run/weft/weftd\.sock'
	line_is out 'members: +3 alive, 1 suspect, 0 failed, 2 left'
	# The values line up.
	left=$(awk -F': +' '{ print length($0) - length($2) }' out | sort -u)
	eq "$left" 14 "column of the values"
	has "$(req 1)" "GET /v1/agent HTTP/1.1"
	run 0 info --socket "$T/api.sock" --json
	eq "$(json members.left)" 2 "members.left"
	eq "$(json key_id)" 3b1f0c9a2d4e5f60 key_id
	# Fields the agent leaves out show as "-".
	answer GET_v1_agent 200 '{"name": "x", "cert_expires_in_s": -60}'
	run 0 info --socket "$T/api.sock"
	line_is out 'address: +-'
	line_is out 'certificate: +-'
	answer GET_v1_agent 200 '[1, 2]'
	run 1 info --socket "$T/api.sock"
	has err "is not an object"
}

case_agent_post() {
	fake_start
	answer POST_v1_join 200 '{"joining": 2}'
	answer POST_v1_leave 200 '{"leaving": true}'
	answer POST_v1_reload 200 '{"reloaded": true}'
	run 0 join 127.0.0.3:7370 127.0.0.4 --socket "$T/api.sock"
	has out "joining: push-pull started with 2 of 2 addresses"
	local r
	r=$(req 1)
	line_is "$r" 'POST /v1/join HTTP/1\.1'
	line_is "$r" 'Host: weft'
	line_is "$r" 'Content-Type: application/json'
	req_body 1 >body
	"$JSON_GET" addresses <body >got || fail "join body: $(cat body)"
	eq "$(cat got)" 127.0.0.3:7370,127.0.0.4 "addresses sent"
	"$JSON_GET" addresses.length <body >got
	eq "$(cat got)" 2 "number of addresses"

	run 0 leave --socket "$T/api.sock"
	has out "leaving"
	line_is "$(req 2)" 'POST /v1/leave HTTP/1\.1'
	line_is "$(req 2)" 'Content-Length: 0'
	eq "$(req_body 2)" "" "leave body"
	run 0 reload --socket "$T/api.sock" --json
	eq "$(json reloaded)" true "reloaded"
	line_is "$(req 3)" 'POST /v1/reload HTTP/1\.1'
	answer POST_v1_reload 400 '{"error": "/etc/weft/weftd.json: bind: not an address"}'
	run 1 reload --socket "$T/api.sock"
	eq "$(cat "$T/err")" "weft: /etc/weft/weftd.json: bind: not an address" "stderr"
	answer POST_v1_leave 403 '{"error": "changing the agent needs the socket owner or root"}'
	run 1 leave --socket "$T/api.sock"
	has err "weft: changing the agent needs the socket owner or root"

	eq "$(n_requests)" 5 "requests before the usage errors"
	run 2 join --socket "$T/api.sock"
	has err "missing argument"
	run 2 join '' --socket "$T/api.sock"
	has err "'' is not an address"
	run 2 join 'a b' --socket "$T/api.sock"
	run 2 leave now --socket "$T/api.sock"
	has err "unexpected argument 'now'"
	run 2 reload --socket
	has err "--socket needs a value"
	run 2 members --socket ''
	has err "--socket: an empty path"
	run 2 members --timeout 0 --socket "$T/api.sock"
	has err "--timeout '0' is not a duration"
	run 2 members --timeout 2h --socket "$T/api.sock"
	run 2 members --json=1 --socket "$T/api.sock"
	eq "$(n_requests)" 5 "requests after the usage errors"
}

case_agent_revoke() {
	fake_start
	make_ca ca acme
	make_node ca web-1
	make_node ca db-1
	local id id2
	id=$(key_id nodes/web-1.crt)
	id2=$(key_id nodes/db-1.crt)
	run 0 cert revoke --ca ca --key-id "$id" --reason "disk lost" \
		--out web-1.rev
	run 0 cert revoke --ca ca --key-id "$id2" --out db-1.rev
	answer POST_v1_objects 200 '{"kind": "revocation", "name": "'"$id"'"}'
	{ echo "# lost on 2026-11-26"; cat web-1.rev; } >commented.rev
	run 0 revoke apply commented.rev --socket "$T/api.sock"
	has out "applied: revocation $id"
	line_is "$(req 1)" 'POST /v1/objects HTTP/1\.1'
	line_is "$(req 1)" 'Content-Type: application/json'
	req_body 1 >body
	"$JSON_GET" armored <body >sent || fail "no armored in $(cat body)"
	# The file as it is, comment included.
	eq "$(cat sent)" "$(cat commented.rev)" "armour sent"
	has body '"# lost on 2026-11-26\n-----BEGIN WEFT REVOCATION-----\n'
	has body 'REVOCATION-----\n"}'

	# Many in one file: one request each, each one block.
	cat web-1.rev db-1.rev >both.rev
	run 0 revoke apply both.rev --socket "$T/api.sock"
	eq "$(n_requests)" 3 "requests"
	eq "$(req_body 2 | "$JSON_GET" armored)" "$(cat web-1.rev)" \
		"first block sent"
	eq "$(req_body 3 | "$JSON_GET" armored)" "$(cat db-1.rev)" \
		"second block sent"

	run 0 revoke apply web-1.rev --socket "$T/api.sock" --json
	eq "$(json kind)" revocation kind
	eq "$(json name)" "$id" name

	answer POST_v1_objects 400 '{"error": "revocation not signed by a CA of the bundle"}'
	run 1 revoke apply web-1.rev --socket "$T/api.sock"
	eq "$(cat "$T/err")" "weft: revocation not signed by a CA of the bundle" stderr

	# Bad files are named here and nothing is sent.
	local before
	before=$(n_requests)
	run 1 revoke apply missing.rev --socket "$T/api.sock"
	has err "weft: missing.rev: no such file"
	run 1 revoke apply nodes/web-1.crt --socket "$T/api.sock"
	has err "nodes/web-1.crt: no WEFT REVOCATION block in it"
	sed '$d' web-1.rev >noend.rev
	run 1 revoke apply noend.rev --socket "$T/api.sock"
	has err "noend.rev: revocation 1: broken armour"
	{
		echo "-----BEGIN WEFT REVOCATION-----"
		printf 'not a revocation' | base64
		echo "-----END WEFT REVOCATION-----"
	} >junk.rev
	run 1 revoke apply junk.rev --socket "$T/api.sock"
	has err "junk.rev: revocation 1: cannot decode it"
	eq "$(n_requests)" "$before" "requests for bad files"
	run 2 revoke apply --socket "$T/api.sock"
	has err "missing argument"
	run 2 revoke apply a b --socket "$T/api.sock"
	run 2 revoke
	has err "missing command"
}

case_agent_unreachable() {
	local msg='(is weftd running? use --socket or WEFT_SOCKET)'
	run 3 members --socket "$T/none.sock"
	eq "$(cat "$T/err")" "weft: cannot reach weftd at $T/none.sock (from --socket): No such file or directory $msg" stderr
	[[ ! -s $T/out ]] || fail "stdout not empty"
	WEFT_SOCKET=$T/env.sock run 3 info
	has err "cannot reach weftd at $T/env.sock (from WEFT_SOCKET): No such file"
	# --socket wins over WEFT_SOCKET.
	WEFT_SOCKET=$T/env.sock run 3 leave --socket "$T/flag.sock"
	has err "at $T/flag.sock (from --socket)"
	# Without either: the default for root, else XDG_RUNTIME_DIR's.
	if [[ ! -e /run/weft/weftd.sock && ! -e $T/xdg/weft/weftd.sock ]]; then
		if (($(id -u) == 0)); then
			WEFT_SOCKET='' XDG_RUNTIME_DIR=$T/xdg run 3 members
			eq "$(cat "$T/err")" "weft: cannot reach weftd at /run/weft/weftd.sock: No such file or directory $msg" stderr
		else
			WEFT_SOCKET='' XDG_RUNTIME_DIR=$T/xdg run 3 members
			has err "at $T/xdg/weft/weftd.sock (from XDG_RUNTIME_DIR)"
		fi
	fi
	local c
	for c in members services info leave reload monitor; do
		run 3 "$c" --socket "$T/none.sock"
		has err "cannot reach weftd at $T/none.sock"
	done
	run 3 join 127.0.0.2 --socket "$T/none.sock"
	has err "cannot reach weftd at $T/none.sock"
	# A socket file nobody listens on.
	fake_start
	answer GET_v1_members 200 "$MEMBERS"
	WEFT_SOCKET=$T/api.sock run 0 members
	has out "web-1"
	fake_stop
	WEFT_SOCKET=$T/api.sock run 3 members
	has err "cannot reach weftd at $T/api.sock (from WEFT_SOCKET): Connection refused"
	local long
	long=$T/$(printf 'x%.0s' {1..120}).sock
	run 2 members --socket "$long"
	has err "longer than 107 bytes"
}

case_agent_replies() {
	fake_start
	# Chunked replies are put back together.
	answer GET_v1_members chunked\ 200 "$MEMBERS"
	run 0 members --socket "$T/api.sock" --json
	eq "$(json members.2.name)" a-very-long-member-name name
	# An error without a JSON body is named by its status.
	answer GET_v1_members 500 'oops'
	run 1 members --socket "$T/api.sock"
	eq "$(cat "$T/err")" "weft: weftd answered 500 Internal Server Error" stderr
	answer GET_v1_members 418 '{"error": ""}'
	run 1 members --socket "$T/api.sock"
	has err "weft: weftd answered 418"
	# Unknown paths: the fake answers 404 like weftd.
	run 1 services nothere --socket "$T/api.sock"
	has err "weft: unknown path"
	# Not HTTP, not JSON, cut short.
	answer GET_v1_members raw 'SSH-2.0-OpenSSH_9.2'
	run 1 members --socket "$T/api.sock"
	has err "weft: weftd at $T/api.sock (from --socket) sent something that is not an HTTP reply"
	answer GET_v1_members 200 '{"members": '
	run 1 members --socket "$T/api.sock"
	has err "weft: weftd answered GET /v1/members with a reply that is not JSON"
	answer GET_v1_members raw $'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"mem'
	run 3 members --socket "$T/api.sock"
	has err "closed the connection: the reply ends before its body does"
	answer GET_v1_members raw ''
	run 3 members --socket "$T/api.sock"
	has err "closed the connection: the connection closed before a reply"
	answer GET_v1_members 200 ''
	run 1 members --socket "$T/api.sock"
	has err "an empty reply"
	# No answer at all: the timeout.
	answer GET_v1_agent hang ''
	local t0=$SECONDS
	run 3 info --socket "$T/api.sock" --timeout 1s
	has err "weft: weftd at $T/api.sock (from --socket) did not answer within 1 s"
	((SECONDS - t0 <= 5)) || fail "the 1 s timeout took $((SECONDS - t0)) s"
}

EVENTS='{"time_ms": 1764165000000, "type": "member", "event": "failed", "name": "db-1", "addr": "127.0.0.4:7370"}
{"time_ms": 1764165000250, "type": "object", "event": "put", "kind": "revocation", "name": "3b1f0c9a2d4e5f60"}
{"time_ms": 1764165001000, "type": "member", "event": "joined", "name": "web-2", "addr": "127.0.0.5:7370"}
'

case_agent_monitor() {
	fake_start
	answer GET_v1_events "stream 100" "$EVENTS"
	run 3 monitor --socket "$T/api.sock"
	eq "$(wc -l <"$T/out")" 3 "events printed"
	line_is out '2025-11-26T13:50:00\.000Z member failed db-1 127\.0\.0\.4:7370'
	line_is out '2025-11-26T13:50:00\.250Z object put revocation 3b1f0c9a2d4e5f60'
	line_is out '2025-11-26T13:50:01\.000Z member joined web-2 127\.0\.0\.5:7370'
	eq "$(cat "$T/err")" "weft: weftd at $T/api.sock closed the event stream" stderr
	line_is "$(req 1)" 'GET /v1/events HTTP/1\.1'
	run 3 monitor --socket "$T/api.sock" --json
	eq "$(cat "$T/out")" "$(printf '%s' "$EVENTS")" "--json lines"
	# Lines cut across chunks, CRLF ends, blank keep-alive lines and an
	# odd line.
	answer GET_v1_events "chunked 200" "${EVENTS//$'\n'/$'\r\n'}
not json
{\"type\": \"route\", \"event\": \"put\", \"name\": \"r1\"}
"
	run 3 monitor --socket "$T/api.sock"
	eq "$(wc -l <"$T/out")" 4 "events printed"
	line_is out '2025-11-26T13:50:01\.000Z member joined web-2 127\.0\.0\.5:7370'
	line_is out '- route put r1'
	has err "weft: weftd sent an event that is not a JSON object (8 bytes); skipped"
	answer GET_v1_events 403 '{"error": "not allowed"}'
	run 1 monitor --socket "$T/api.sock"
	eq "$(cat "$T/err")" "weft: not allowed" stderr
	# --timeout bounds the wait for the stream to start, not the quiet
	# between events.
	answer GET_v1_events "stream 1500" "$(head -1 <<<"$EVENTS")"
	run 3 monitor --socket "$T/api.sock" --timeout 1s
	line_is out '2025-11-26T13:50:00\.000Z member failed db-1 127\.0\.0\.4:7370'
	answer GET_v1_events hang ''
	run 3 monitor --socket "$T/api.sock" --timeout 1s
	has err "did not answer within 1 s"

	# Events arrive as they happen, and Ctrl-C ends the watch with 0.
	answer GET_v1_events "stream 200" "$(head -1 <<<"$EVENTS")
$(printf '{"name": "never"}\n%.0s' {1..200})"
	# (Emptied first: the shell may look before the child's redirection
	# has truncated them.)
	: >"$T/out"
	: >"$T/err"
	"$WEFT" monitor --socket "$T/api.sock" >"$T/out" 2>"$T/err" &
	local pid=$! i got=0
	for ((i = 0; i < 100; i++)); do
		grep -q 'member failed db-1' "$T/out" && break
		sleep 0.05
	done
	grep -q 'member failed db-1' "$T/out" ||
		fail "the first event did not show while the stream was open"
	kill -INT "$pid"
	wait "$pid" || got=$?
	eq "$got" 0 "exit status after SIGINT"
	[[ ! -s $T/err ]] || fail "stderr after SIGINT: $(cat "$T/err")"
	# SIGTERM too.
	: >"$T/out"
	"$WEFT" monitor --socket "$T/api.sock" --json >"$T/out" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $T/out ]] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	got=0
	wait "$pid" || got=$?
	eq "$got" 0 "exit status after SIGTERM"
	has out '"event": "failed"'
}

ROUTE='{"kind": "route", "name": "api-canary", "service": "api",
 "routes": [
  {"match": {"path_prefix": "/", "headers": [{"name": "x-canary", "exact": "1"}]},
   "targets": [{"service": "api", "labels": {"version": "v2"}, "weight": 100}]},
  {"match": {"path_prefix": "/", "methods": ["GET", "POST"]},
   "targets": [{"service": "api", "labels": {"version": "v1"}, "weight": 90},
               {"service": "api", "labels": {"version": "v2"}, "weight": 10}],
   "timeout": "2s", "idle_timeout": "30s",
   "retry": {"max": 2, "per_try_timeout": "500ms",
             "on": ["5xx", "connect-failure", "reset"], "budget_percent": 20}}]}'

ROUTES_LIST='{"routes": [
 {"name": "api-canary", "service": "api", "rules": 2, "active": true,
  "deleted": false, "signer": "3b1f0c9a2d4e5f60", "hlc": 115677962321100800,
  "value": {"kind": "route", "name": "api-canary", "service": "api"}},
 {"name": "api-old", "service": "api", "rules": 1, "active": false,
  "deleted": false, "signer": "3b1f0c9a2d4e5f60", "hlc": 115677962321100800},
 {"name": "bad-one", "active": false, "deleted": false,
  "error": "routes[0].targets: at least one target needs a weight",
  "signer": "3b1f0c9a2d4e5f61", "hlc": 115677962321100800},
 {"name": "gone", "active": false, "deleted": true,
  "signer": "3b1f0c9a2d4e5f61", "hlc": 115677962321100800}]}'

# weft routes: every object checked with the agent's decoder before
# anything is signed (errors name the file, the object and the JSON
# path), then one signed POST /v1/objects each; list/get/delete read
# GET /v1/routes.
case_routes() {
	fake_start
	make_ca ca acme
	make_node ca ops --groups operator
	make_node ca web-1
	local sign=(--signer-key nodes/ops.key --signer-cert nodes/ops.crt
		--socket "$T/api.sock")
	printf '%s' "$ROUTE" >r.json
	answer POST_v1_objects 200 '{"accepted": true}'
	run 0 routes apply r.json "${sign[@]}"
	eq "$(cat "$T/out")" "applied: route api-canary (service api, 2 rules), gossiped to the cluster" stdout
	line_is "$(req 1)" 'POST /v1/objects HTTP/1\.1'
	req_body 1 | "$JSON_GET" armored >sent || fail "no armored"
	has sent "-----BEGIN WEFT OBJECT-----"
	# A list: one request each.
	printf '[%s, %s]' "$ROUTE" "$(sed 's/"api-canary"/"api-b"/' <<<"$ROUTE")" >two.json
	run 0 routes apply two.json "${sign[@]}"
	eq "$(n_requests)" 3 "requests after two applies"
	has out "applied: route api-b"

	# Bad objects: named, with the JSON path, and nothing is sent.
	bad_route() { # WANT SED
		sed "$2" r.json >bad.json
		run 1 routes apply bad.json "${sign[@]}"
		has err "$1"
	}
	bad_route 'weft: bad.json: route api-canary: routes[1].retry.on[0]: "5xxx" is not a retry condition' 's/"5xx"/"5xxx"/'
	bad_route 'route api-canary: routes[0].match.path_prefx: unknown key' '0,/"path_prefix"/s//"path_prefx"/'
	bad_route 'route api-canary: routes[0].targets: every weight is 0' 's/"weight": 100/"weight": 0/'
	bad_route 'route api-canary: routes[1].timeout: "soon" is not a duration' 's/"2s"/"soon"/'
	bad_route 'route 1: name: "Api_Canary" is not an object name' 's/"api-canary"/"Api_Canary"/'
	bad_route 'route api-canary: service: "API" is not a service name' '1s/"service": "api",$/"service": "API",/'
	bad_route 'route api-canary: kind: "intention" is not "route"' 's/"kind": "route"/"kind": "intention"/'
	printf '[%s, %s]' "$ROUTE" "$ROUTE" >dup.json
	run 1 routes apply dup.json "${sign[@]}"
	has err 'two route objects are named "api-canary" (entries 1 and 2)'
	printf '{"kind": "route",' >broken.json
	run 1 routes apply broken.json "${sign[@]}"
	has err "broken.json: line 1"
	printf '[]' >empty.json
	run 1 routes apply empty.json "${sign[@]}"
	has err "no route to apply"
	# A signer without the operator group is refused here.
	run 1 routes apply r.json --signer-key nodes/web-1.key \
		--signer-cert nodes/web-1.crt --socket "$T/api.sock"
	has err "does not list the \`operator\` group; agents refuse routes it signs"
	run 2 routes apply r.json --socket "$T/api.sock"
	has err "--signer-key"
	eq "$(n_requests)" 3 "requests after the refused files"

	# list: state says which object is in force and why others are not.
	answer GET_v1_routes 200 "$ROUTES_LIST"
	run 0 routes list --socket "$T/api.sock"
	line_is out 'NAME +SERVICE +RULES +STATE +SIGNER +UPDATED'
	line_is out 'api-canary +api +2 +active +3b1f0c9a2d4e5f60 .*'
	line_is out 'api-old +api +1 +shadowed +.*'
	has out 'invalid: routes[0].targets: at least one target needs a weight'
	hasnt out gone
	run 0 routes list --all --socket "$T/api.sock"
	line_is out 'gone .*\(deleted\).*'
	run 0 routes list --json --socket "$T/api.sock"
	eq "$(json routes.length)" 4 "routes in --json"

	# get: the object as signed.
	answer GET_v1_routes_api-canary 200 "$(sed -n 2,4p <<<"$ROUTES_LIST" | sed 's/^ //; s/},$/}/')"
	run 0 routes get api-canary --socket "$T/api.sock"
	has out '"kind": "route"'
	has out '"service": "api"'
	line_is "$(req $(n_requests))" 'GET /v1/routes/api-canary HTTP/1\.1'
	run 1 routes get nope --socket "$T/api.sock"
	has err "weft:"
	run 2 routes get 'Bad Name' --socket "$T/api.sock"
	has err "is not a route name"

	# delete: every name must be live before any tombstone is sent.
	local before
	before=$(n_requests)
	run 1 routes delete api-canary nope "${sign[@]}"
	has err "weft: nope: weftd holds no route object of that name"
	run 1 routes delete gone "${sign[@]}"
	eq "$(n_requests)" $((before + 2)) "only the two GETs"
	run 0 routes delete api-canary api-old "${sign[@]}"
	has out "deleted: route api-canary"
	has out "deleted: route api-old"
	eq "$(n_requests)" $((before + 5)) "a GET and two POSTs"
	line_is "$(req $((before + 5)))" 'POST /v1/objects HTTP/1\.1'
	run 2 routes delete "${sign[@]}"
	has err "missing argument"
}

# An intention with L7 rules: checked with the agent's decoder (paths in
# errors), and the rules are part of what is signed.
case_intentions_http() {
	fake_start
	make_ca ca acme
	make_node ca ops --groups operator
	local sign=(--signer-key nodes/ops.key --signer-cert nodes/ops.crt
		--socket "$T/api.sock")
	answer POST_v1_objects 200 '{"accepted": true}'
	printf '%s' '{"name": "web-api", "source": "web", "destination": "api",
	  "action": "allow", "http": [{"path_prefix": "/public/",
	  "methods": ["GET", "HEAD"]}, {"path_prefix": "/health"}]}' >i.json
	run 0 intentions apply i.json "${sign[@]}"
	has out "applied: intention web-api"
	eq "$(n_requests)" 1 requests
	sed 's/"HEAD"/"GET ME"/' i.json >bad.json
	run 1 intentions apply bad.json "${sign[@]}"
	has err 'weft: bad.json: intention web-api: http[0].methods[1]: "GET ME" is not an HTTP method token'
	sed 's#"/health"#"health"#' i.json >bad.json
	run 1 intentions apply bad.json "${sign[@]}"
	has err "intention web-api: http[1].path_prefix: \"health\" does not start with '/'"
	sed 's/"allow"/"deny"/' i.json >bad.json
	run 1 intentions apply bad.json "${sign[@]}"
	has err "intention web-api: http: only an allow intention takes L7 rules"
	sed 's/"path_prefix": "\/health"/"paths": "x"/' i.json >bad.json
	run 1 intentions apply bad.json "${sign[@]}"
	has err "http[1].paths: unknown key"
	eq "$(n_requests)" 1 "requests after the refused files"
	answer GET_v1_objects_kind=intention 200 '{"objects": [
	 {"kind": "intention", "name": "web-api", "source": "web",
	  "destination": "api", "action": "allow", "signer": "3b1f0c9a2d4e5f60",
	  "hlc": 115677962321100800, "deleted": false,
	  "http": [{"path_prefix": "/public/"}, {"path_prefix": "/health"}]},
	 {"kind": "intention", "name": "db", "source": "*",
	  "destination": "db", "action": "deny", "signer": "3b1f0c9a2d4e5f60",
	  "hlc": 115677962321100800, "deleted": false}]}'
	run 0 intentions list --socket "$T/api.sock"
	line_is out 'NAME +SOURCE +DESTINATION +ACTION +SIGNER +UPDATED +HTTP'
	line_is out 'web-api +web +api +allow +3b1f0c9a2d4e5f60 +[-0-9T:Z]+ +2 rules'
	line_is out 'db +\* +db +deny +.* +-'
}

declare -F "case_$CASE" >/dev/null || fail "no such case"
"case_$CASE"
echo "ok [$CASE]"
