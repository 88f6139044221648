#!/usr/bin/python3
"""A WHIP publisher and WHEP player on aiortc (Debian: python3-aiortc).

Parley's tests use it to meet a WebRTC stack other than Pion: aioice,
aiortc's DTLS/SRTP, libvpx and libopus encoding and decoding real media.

    aiortc_client.py whip URL TOKEN   publish a test picture and a tone
    aiortc_client.py whep URL TOKEN   play, counting decoded frames

It prints "status N" for the POST, then "frames video=N audio=N" every half
second, and on SIGINT or SIGTERM sends DELETE, prints "deleted N" and exits.
"""

import asyncio
import fractions
import math
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack


class Picture(MediaStreamTrack):
    """A small moving picture, 15 frames a second."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        await asyncio.sleep(1 / 15)
        frame = av.VideoFrame(width=320, height=240, format="yuv420p")
        for i, plane in enumerate(frame.planes):
            shade = (self.n * 4 + i * 80) % 256
            plane.update(bytes([shade]) * plane.buffer_size)
        frame.pts = self.n * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        self.n += 1
        return frame


class Tone(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        await asyncio.sleep(0.02)
        samples = 960
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        pcm = bytearray()
        for i in range(samples):
            v = int(8000 * math.sin(2 * math.pi * 440 * (self.n * samples + i) / 48000))
            pcm += v.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = 48000
        frame.pts = self.n * samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.n += 1
        return frame


def http(method, url, token, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


async def main(mode, url, token):
    pc = RTCPeerConnection()
    counts = {"video": 0, "audio": 0}

    async def consume(track):
        while True:
            try:
                await track.recv()
            except Exception:
                return
            counts[track.kind] += 1

    if mode == "whip":
        pc.addTransceiver(Picture(), direction="sendonly")
        pc.addTransceiver(Tone(), direction="sendonly")
    else:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        pc.on("track", lambda track: asyncio.ensure_future(consume(track)))

    # aiortc gathers before it describes: the offer carries the candidates.
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, body = await asyncio.to_thread(http, "POST", url, token, pc.localDescription.sdp.encode())
    print("status", status, flush=True)
    if status != 201:
        print(body, flush=True)
        return 1
    resource = urllib.parse.urljoin(url, headers["Location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        print("frames video=%d audio=%d" % (counts["video"], counts["audio"]), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    status, _, _ = await asyncio.to_thread(http, "DELETE", resource, token)
    print("deleted", status, flush=True)
    await pc.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("whip", "whep"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(*sys.argv[1:])))
