"""Debian's python3-fluent-logger, extended with acks that survive a crash.

usage: py-ack-sender.py HOST PORT SECONDS WINDOW ACK_TIMEOUT_S SID

fluent-logger-python sends Message mode ([tag, time, record]) with no ack
support (test/fixtures/py-fluent-sender.py adds a blocking one). This sender
keeps up to WINDOW messages unacked, each with its own `chunk` option, and
resends every unacked one, with the same chunk id, on a new connection when
the connection drops or when the oldest has waited ACK_TIMEOUT_S: what
Fluentd's out_forward does with require_ack_response. Connecting, sending and
closing go through the library's own FluentSender methods (_reconnect,
_send_data, _close); only the packet (_make_packet) and the ack reading are
ours (the ack reading is shared with the test's sender: test/fixtures/fluent_ack.py).
It makes new records for SECONDS, then waits for the last acks (giving
up 60 s later).

Every record is {"sid": SID, "seq": n, "message": ...}. It prints
{"ready": true} first; then SIGUSR1 prints
{"sent": n} (the ids 0..n-1 sent so far); at the end it prints one JSON line:
{"sent", "acked", "resent", "reconnects", "max_ack_gap_ms", "unacked"}.
"""
import base64
import collections
import json
import logging
import os
import select
import signal
import socket
import sys
import time

import msgpack
from fluent import sender

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures'))
from fluent_ack import KeepingAcks  # noqa: E402  (shared with test/fixtures/py-fluent-sender.py)

log = logging.getLogger('py-ack-sender')


class ResendingSender(KeepingAcks):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunk = None

    def _make_packet(self, label, timestamp, data):
        tag = '.'.join((self.tag, label)) if label else self.tag
        return msgpack.packb((tag, timestamp, data, {'chunk': self.chunk}), **self.msgpack_kwargs)

    def packet(self, label, timestamp, data, chunk):
        self.chunk = chunk
        return self._make_packet(label, timestamp, data)

    def connected(self):
        return self.socket is not None

    def send_raw(self, data):
        """True if written; False (socket closed, to be retried) on a socket error."""
        try:
            self._send_data(data)
            return True
        except (socket.error, OSError) as e:
            self.last_error = e
            self._close()
            self.unpacker = msgpack.Unpacker(raw=False)
            return False

    def read_acks(self, wait):
        """Chunk ids acked within `wait` seconds; None if the connection dropped."""
        try:
            ready, _, _ = select.select([self.socket], [], [], wait)
            if ready:
                self._check_recv_side()
        except (socket.error, OSError) as e:
            self.last_error = e
            self._close()
            self.unpacker = msgpack.Unpacker(raw=False)
            return None
        return [m.get('ack') for m in self.unpacker if isinstance(m, dict)]


def main():
    host, port, seconds, window, ack_timeout, sid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    s = ResendingSender('soak', host=host, port=port, nanosecond_precision=True, timeout=5.0)
    state = {'sent': 0}
    signal.signal(signal.SIGUSR1, lambda *_: print(json.dumps({'sent': state['sent']}), flush=True))
    print(json.dumps({'ready': True}), flush=True)  # SIGUSR1 before this line would kill us
    unacked = collections.OrderedDict()  # chunk id -> [packet, sent_at]
    acked = resent = reconnects = 0
    backoff = 0.1
    t0 = time.monotonic()
    end = t0 + seconds
    give_up = end + 60
    last_progress = t0
    max_gap = 0.0
    while True:
        now = time.monotonic()
        if now >= give_up or (now >= end and not unacked):
            break
        if not s.connected():
            try:
                s._reconnect()
            except (socket.error, OSError):
                time.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            reconnects += 1
            backoff = 0.1
            if unacked:
                for entry in unacked.values():
                    entry[1] = time.monotonic()
                resent += len(unacked)
                if not s.send_raw(b''.join(p for p, _ in unacked.values())):
                    continue
        batch = []
        while now < end and len(unacked) < window:
            seq = state['sent']
            chunk = base64.b64encode(os.urandom(16)).decode()
            p = s.packet('test', sender.EventTime(time.time()), {'sid': sid, 'seq': seq, 'message': 'python soak line %d' % seq}, chunk)
            unacked[chunk] = [p, now]
            batch.append(p)
            state['sent'] = seq + 1
        if batch and not s.send_raw(b''.join(batch)):
            continue
        ids = s.read_acks(0.05)
        now = time.monotonic()
        if ids is None:
            continue
        for chunk in ids:
            if unacked.pop(chunk, None) is not None:
                acked += 1
                max_gap = max(max_gap, now - last_progress)
                last_progress = now
        if not unacked:
            last_progress = now
        else:
            max_gap = max(max_gap, now - last_progress)
            oldest = next(iter(unacked.values()))[1]
            if now - oldest > ack_timeout:
                log.warning('no ack within %.1f s: reconnecting, resending %d chunks', ack_timeout, len(unacked))
                s._close()
    s._close()
    print(json.dumps({'sent': state['sent'], 'acked': acked, 'resent': resent, 'reconnects': max(0, reconnects - 1), 'max_ack_gap_ms': round(max_gap * 1000, 1), 'unacked': len(unacked)}), flush=True)


if __name__ == '__main__':
    main()
