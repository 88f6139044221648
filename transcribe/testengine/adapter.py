#!/usr/bin/python3
"""An OpenAI-compatible speech-to-text server around Debian's pocketsphinx,
for Parley's tests: a real recogniser behind the API real engines speak.

POST /v1/audio/transcriptions  multipart: file (any format ffmpeg reads:
Ogg/Opus, WAV...), model, language, response_format -> {"text": "..."}
GET  /health                   -> {"status": "ok"} once the model is loaded

Usage: adapter.py [--port N] [--delay SECONDS]
Prints "listening on PORT" on stdout once it serves. It binds loopback only.
"""
import argparse
import email.parser
import email.policy
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pocketsphinx import Decoder

MODEL = "/usr/share/pocketsphinx/model/en-us"


def load_decoder():
    c = Decoder.default_config()
    c.set_string("-hmm", MODEL + "/en-us")
    c.set_string("-lm", MODEL + "/en-us.lm.bin")
    c.set_string("-dict", MODEL + "/cmudict-en-us.dict")
    c.set_string("-logfn", "/dev/null")
    return Decoder(c)


def to_pcm(data):
    """Decodes any audio ffmpeg reads to 16 kHz mono signed 16-bit PCM."""
    p = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0",
         "-ar", "16000", "-ac", "1", "-f", "s16le", "pipe:1"],
        input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise ValueError(p.stderr.decode(errors="replace").strip() or "ffmpeg failed")
    return p.stdout


def parse_multipart(ctype, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("expected multipart/form-data")
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("adapter: " + (fmt % args) + "\n")

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.answer(200, {"status": "ok"})
        else:
            self.answer(404, {"error": {"message": "not found"}})

    def do_POST(self):
        if self.path != "/v1/audio/transcriptions":
            self.answer(404, {"error": {"message": "not found"}})
            return
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        t0 = time.time()
        try:
            fields = parse_multipart(self.headers.get("Content-Type", ""), body)
            if "file" not in fields:
                raise ValueError("no file")
            pcm = to_pcm(fields["file"])
        except Exception as e:  # a bad request, not a crash
            self.answer(400, {"error": {"message": str(e)}})
            return
        t1 = time.time()
        if self.server.delay > 0:
            time.sleep(self.server.delay)
        with self.server.lock:  # one decoder, one utterance at a time
            d = self.server.decoder
            d.start_utt()
            d.process_raw(pcm, False, True)
            d.end_utt()
            hyp = d.hyp()
        text = hyp.hypstr if hyp is not None else ""
        dump = os.environ.get("PARLEY_ASR_DUMP")
        if dump:  # what the engine got, to listen to when a recognition goes wrong
            base = os.path.join(dump, "%.3f" % t0)
            with open(base + ".ogg", "wb") as f:
                f.write(fields["file"])
            with open(base + ".txt", "w") as f:
                f.write(text + "\n")
        lang = fields.get("language", b"").decode(errors="replace")
        sys.stderr.write("adapter: %.1f s of audio (%s): %r (decoding %.2f s, recognising %.2f s)\n" % (
            len(pcm) / 32000, lang or "-", text, t1 - t0, time.time() - t1))
        self.answer(200, {"text": text, "language": lang, "duration": len(pcm) / 32000})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0, help="seconds to wait before each answer (a slow engine)")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.decoder = load_decoder()
    srv.lock = threading.Lock()
    srv.delay = args.delay
    print("listening on %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
