// An SMSC for tests, built on the `smpp` package from the npm registry (an SMPP
// implementation nobody here wrote). It binds one system_id/password, answers
// submit_sm with a message id, reassembles concatenated parts by their UDH, sends a
// delivery receipt when one is asked for, and sends mobile-originated texts (deliver_sm)
// when told to on stdin. Every event is one JSON line on stdout.
//
//   node smsc.js '{"system_id": "...", "password": "...", "throttle_after": 0}'
//   stdin:  {"cmd": "mo", "from": "+1...", "to": "+1...", "text": "C"}
//           {"cmd": "mo_raw", "from": ..., "to": ..., "data_coding": 8, "hex": "0053",
//            "esm_class": 64}  (0x40: the bytes start with a UDH, e.g. one part of several)
//           {"cmd": "reject", "status": 11, "count": 1}  (the next submit_sm gets that
//           command_status, e.g. 0x0B ESME_RINVDSTADR, and is not delivered)
'use strict';
const smpp = require('smpp');
const readline = require('readline');

const cfg = JSON.parse(process.argv[2] || '{}');
const sessions = new Set();
const parts = new Map(); // "src|ref" -> {total, got: Map(seq -> text)}
let nextId = 1;
let rejects = {status: 0, count: 0};

function emit(event) {
  event.t = process.hrtime.bigint().toString();
  process.stdout.write(JSON.stringify(event) + '\n');
}

function receiptText(id, text) {
  const stamp = new Date().toISOString().replace(/[-T:]/g, '').slice(2, 12);
  return `id:${id} sub:001 dlvrd:001 submit date:${stamp} done date:${stamp} ` +
    `stat:DELIVRD err:000 text:${text.slice(0, 20)}`;
}

function concatInfo(udhList) {
  for (const ie of udhList || []) {
    if (ie[0] === 0x00 && ie[1] === 3) return {ref: ie[2], total: ie[3], seq: ie[4]};
    if (ie[0] === 0x08 && ie[1] === 4) return {ref: ie.readUInt16BE(2), total: ie[4], seq: ie[5]};
  }
  return null;
}

function onSubmit(session, pdu) {
  if (rejects.count > 0) {
    rejects.count -= 1;
    emit({event: 'submit_rejected', status: rejects.status, dest: pdu.destination_addr});
    session.send(pdu.response({command_status: rejects.status}));
    return;
  }
  const id = String(nextId++);
  const sm = pdu.short_message || {};
  const text = typeof sm === 'string' ? sm : (sm.message || '');
  const info = concatInfo(sm.udh);
  emit({event: 'submit_part', id, source: pdu.source_addr, dest: pdu.destination_addr,
        data_coding: pdu.data_coding, esm_class: pdu.esm_class,
        registered_delivery: pdu.registered_delivery,
        length: pdu.sm_length, text, concat: info});
  session.send(pdu.response({message_id: id}));
  let whole = text;
  if (info) {
    const key = `${pdu.source_addr}|${info.ref}`;
    const entry = parts.get(key) || {total: info.total, got: new Map()};
    entry.got.set(info.seq, text);
    parts.set(key, entry);
    if (entry.got.size < entry.total) return;
    parts.delete(key);
    whole = [...entry.got.keys()].sort((a, b) => a - b).map((k) => entry.got.get(k)).join('');
  }
  emit({event: 'submit', id, source: pdu.source_addr, dest: pdu.destination_addr,
        text: whole, parts: info ? info.total : 1, data_coding: pdu.data_coding});
  if (pdu.registered_delivery & 1) {
    session.deliver_sm({source_addr: pdu.destination_addr, destination_addr: pdu.source_addr,
                        esm_class: 0x04, data_coding: 0x00,
                        short_message: receiptText(id, whole)});
  }
}

const server = smpp.createServer({debug: false}, (session) => {
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== cfg.system_id || pdu.password !== cfg.password) {
      emit({event: 'bind_refused', system_id: pdu.system_id});
      session.send(pdu.response({command_status: smpp.ESME_RBINDFAIL}));
      session.close();
      return;
    }
    sessions.add(session);
    emit({event: 'bound', mode: 'transceiver', system_id: pdu.system_id});
    session.send(pdu.response({system_id: 'npm-smsc'}));
  });
  session.on('enquire_link', (pdu) => {
    emit({event: 'enquire_link'});
    session.send(pdu.response());
  });
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('unbind', (pdu) => {
    emit({event: 'unbind'});
    session.send(pdu.response());
    session.close();
  });
  session.on('close', () => sessions.delete(session));
  session.on('error', (err) => emit({event: 'session_error', message: String(err)}));
});

readline.createInterface({input: process.stdin}).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === 'reject') {
    rejects = {status: cmd.status, count: cmd.count || 1};
    emit({event: 'reject_armed', status: cmd.status});
    return;
  }
  if (cmd.cmd === 'mo') {
    for (const session of sessions) {
      // data_coding 0 (the SMSC default alphabet, GSM 03.38) for plain text, else UCS-2.
      const coding = /^[\x20-\x7e]*$/.test(cmd.text) ? 0x00 : 0x08;
      session.deliver_sm({source_addr: cmd.from, destination_addr: cmd.to,
                          data_coding: coding, short_message: cmd.text}, (resp) => {
        emit({event: 'mo_acked', status: resp.command_status});
      });
    }
    emit({event: 'mo_sent', sessions: sessions.size});
  }
  if (cmd.cmd === 'mo_raw') {
    // A deliver_sm as a faulty SMSC may send it: the data_coding and the short_message
    // bytes (hex) as given, nothing encoded or checked.
    for (const session of sessions) {
      session.deliver_sm({source_addr: cmd.from, destination_addr: cmd.to,
                          data_coding: cmd.data_coding, esm_class: cmd.esm_class || 0,
                          short_message: Buffer.from(cmd.hex, 'hex')});
    }
    emit({event: 'mo_sent', sessions: sessions.size});
  }
}).on('close', () => process.exit(0));

server.listen(0, '127.0.0.1', () => emit({event: 'ready', port: server.address().port}));
