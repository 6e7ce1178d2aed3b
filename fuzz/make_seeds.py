#!/usr/bin/env python3
"""Writes the hand-made seed corpora for the codec fuzz targets.

Seeds for `event` come from real generated streams (see README "Fuzzing").
Run from the fuzz/ directory; existing files are overwritten, others kept.
"""
import os


def rec(payload):
    return b"%d\n" % len(payload) + payload


def chunk(data, ext=b""):
    return b"%x%s\r\n" % (len(data), ext) + data + b"\r\n"


def write(target, name, data):
    os.makedirs(os.path.join("corpus", target), exist_ok=True)
    with open(os.path.join("corpus", target, name), "wb") as f:
        f.write(data)


records = [b"\x08\x0a", b"", b"x" * 300, bytes(range(256))]
body = b"".join(rec(r) for r in records)

# chunked: one record per chunk; records split over chunks; extensions and
# trailers; malformed framing
write("chunked", "one-record-per-chunk", b"".join(chunk(rec(r)) for r in records) + b"0\r\n\r\n")
write("chunked", "split-records", b"".join(chunk(body[i:i + 7]) for i in range(0, len(body), 7)))
write("chunked", "extensions-trailers", chunk(b"hello", b";a=1;b=\"x y\"") + b"0\r\nX-T: 1\r\nY: 2\r\n\r\n")
write("chunked", "bare-lf", b"5\nhello\n0\n\n")
write("chunked", "huge-size", b"ffffffffffffffffff\r\n")
write("chunked", "uppercase", chunk(b"A" * 26).replace(b"1a", b"1A") + b"0\r\n\r\n")

# recordio: first byte picks the segment size in the target
write("recordio", "records", b"\x05" + body)
write("recordio", "records-seg1", b"\x00" + body)
write("recordio", "empty-records", b"\x03" + b"0\n0\n0\n")
write("recordio", "bad-digit", b"\x02" + b"12a\nxxxxxxxxxxxx")
write("recordio", "long-length", b"\x04" + b"9" * 30 + b"\n")
write("recordio", "too-large", b"\x01" + b"67108865\nabc")

# response heads
write("response_head", "subscribed",
      b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
      b"Mesos-Stream-Id: 2f2ee5fc-1a4b-4f0e-b3b6-6a1b2c3d4e5f\r\nTransfer-Encoding: chunked\r\n\r\n1c\r\n")
write("response_head", "redirect",
      b"HTTP/1.1 307 Temporary Redirect\r\nLocation: //10.0.0.2:5050/api/v1/scheduler\r\nContent-Length: 0\r\n\r\n")
write("response_head", "accepted", b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
write("response_head", "error-body",
      b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n\r\nMissing 'Mesos-Stream-Id'")
write("response_head", "http10-close", b"HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\n\r\n")
write("response_head", "te-and-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n")
