// devnet.mjs: TronWeb, TRON's own JavaScript SDK, against a node's HTTP API (btspeed's TRON devnet in the
// tests): reads an account, builds a TRC-10 transfer, signs it and broadcasts it, as a wallet would.
//
// Input on stdin: {"fullHost": "http://...", "privateKey": "hex", "to": "T...", "tokenId": "1002000", "amount": N}
// Output on stdout: {"address", "trx", "token", "txid", "result", "message"} or {"error": "..."}
import { TronWeb } from 'tronweb';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

try {
  const tw = new TronWeb({ fullHost: req.fullHost, privateKey: req.privateKey });
  const from = tw.defaultAddress.base58;
  const account = await tw.trx.getAccount(from);
  const token = (account.assetV2 || []).find(a => a.key === req.tokenId);
  const tx = await tw.transactionBuilder.sendToken(req.to, req.amount, req.tokenId, from);
  const signed = await tw.trx.sign(tx);
  const res = await tw.trx.sendRawTransaction(signed);
  console.log(JSON.stringify({
    address: from, trx: account.balance || 0, token: token ? token.value : 0,
    txid: res.txid || signed.txID, result: !!res.result,
    message: res.message ? Buffer.from(res.message, 'hex').toString('utf8') : '',
  }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.message || e) }));
}
