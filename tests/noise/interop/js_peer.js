// An independent Noise peer (npm noise-handshake: XX and IK, 25519,
// ChaChaPoly, BLAKE2b) speaking noise-peer's profile, for manual interop
// checks; see README.md beside it.
const net = require('net')
const Noise = require('noise-handshake')
const Cipher = require('noise-handshake/cipher')
const curve = require('noise-handshake/dh')
const [mode, addr, pattern, skHex, remoteHex, message] = process.argv.slice(2)
const [host, port] = addr.split(':')
const kp = curve.generateKeyPair(Buffer.from(skHex, 'hex'))
const initiator = mode === 'initiate'
const hs = new Noise(pattern, initiator, kp)
hs.initialise(Buffer.alloc(0), initiator && pattern === 'IK' ? Buffer.from(remoteHex, 'hex') : undefined)

function framer (sock, onMsg) {
  let buf = Buffer.alloc(0)
  sock.on('data', d => {
    buf = Buffer.concat([buf, d])
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const n = buf.readUInt16BE(0)
      const m = buf.subarray(2, 2 + n)
      buf = buf.subarray(2 + n)
      onMsg(m)
    }
  })
}
function frame (m) { const h = Buffer.alloc(2); h.writeUInt16BE(m.length); return Buffer.concat([h, m]) }

function run (sock) {
  let tx, rx
  const done = () => { tx = new Cipher(hs.tx); rx = new Cipher(hs.rx) }
  if (initiator) sock.write(frame(hs.send()))
  framer(sock, m => {
    if (!hs.complete) {
      hs.recv(m)
      if (!hs.complete) sock.write(frame(hs.send()))
      if (hs.complete) {
        done()
        if (initiator) sock.write(frame(tx.encrypt(Buffer.from(message))))
      }
      return
    }
    const pt = rx.decrypt(m)
    if (initiator) {
      const ok = pt.toString() === message
      console.log(JSON.stringify({ ok, handshake_hash: Buffer.from(hs.hash).toString('hex') }))
      sock.end(); process.exit(ok ? 0 : 1)
    } else {
      sock.write(frame(tx.encrypt(pt)))
    }
  })
}
if (initiator) {
  const s = net.connect(+port, host, () => run(s))
} else {
  const srv = net.createServer(s => { run(s); s.on('close', () => { srv.close(); console.error('js responder: done hash', Buffer.from(hs.hash).toString('hex')) }) })
  srv.listen(+port, host, () => console.log(JSON.stringify({ listen: addr, static: kp.publicKey.toString('hex') })))
}
