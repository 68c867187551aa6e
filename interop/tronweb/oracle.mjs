// oracle.mjs answers questions about TRON keys with TronWeb, TRON's own
// JavaScript SDK, so btspeed's Go tests can check their answers against it.
//
// Input on stdin: a JSON array of requests. Output on stdout: a JSON array of
// answers in the same order.
//   {"op":"fromMnemonic","mnemonic":"...","index":N}  -> {"address":"T...","privateKey":"hex"}
//   {"op":"verifyMessageV2","message":"...","signature":"0x..."} -> {"address":"T..."} or {"error":"..."}
//   {"op":"signMessageV2","message":"...","privateKey":"hex"} -> {"signature":"0x..."}
//   {"op":"isAddress","address":"..."} -> {"valid":bool}
import { TronWeb, Trx } from 'tronweb';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function answer(r) {
  try {
    switch (r.op) {
      case 'fromMnemonic': {
        const a = TronWeb.fromMnemonic(r.mnemonic, `m/44'/195'/0'/0/${r.index}`);
        return { address: a.address, privateKey: a.privateKey.replace(/^0x/, '') };
      }
      case 'verifyMessageV2':
        return { address: Trx.verifyMessageV2(r.message, r.signature) };
      case 'signMessageV2':
        return { signature: Trx.signMessageV2(r.message, r.privateKey) };
      case 'isAddress':
        return { valid: TronWeb.isAddress(r.address) };
      default:
        return { error: `unknown op ${r.op}` };
    }
  } catch (e) {
    return { error: String(e && e.message || e) };
  }
}

process.stdout.write(JSON.stringify(requests.map(answer)));
