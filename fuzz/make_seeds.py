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

# ------------------------------------------------------------ the API's parsers
# Seeds from the documents users send: the README's example, hydrogen's
# README app (api/tests/data), the tests' full spec, taurus's example job;
# and the edge cases strict parsing and paging must get right.
import json

here = os.path.dirname(os.path.abspath(__file__))
readme_app = b'{"name": "web", "instances": 2,\n "resources": {"cpu": 0.1, "mem": 32}, "command": {"cmd": "sleep 3600"}}\n'
with open(os.path.join(here, "..", "api", "tests", "data", "hydrogen-readme-app.json"), "rb") as f:
    hydrogen = f.read()
full = {
    "name": "full", "instances": 1, "role": "tritium",
    "resources": {"cpu": 0.25, "mem": 48, "disk": {"size": 100}},
    "strategy": {"type": "UNIQUE"},
    "command": {"cmd": "serve --fast", "environment": {"A": "1", "B": "two"},
                "uris": [{"uri": "http://x/a.tgz", "extract": True, "execute": False, "cache": True}]},
    "container": {
        "image": "debian", "tag": "12",
        "volume": [{"container_path": "/logs", "host_path": "/var/log", "mode": "ro"},
                   {"container_path": "/data", "source": {"type": "DOCKER", "docker_volume":
                    {"driver": "rexray", "name": "vol1", "driveropts": [{"size": "5"}, ""]}}}],
        "network": [{"ipaddress": [{"ip": "10.2.1.1", "protocol": "ipv4", "group": ["prod"],
                                    "labels": [{"some_label": "awesome"}]},
                                   {"ip": "2600::1", "protocol": "ipv6"}, {"ip": ""}]},
                    {"name": "FE-CNI"}, {"name": "BE-CNI", "labels": [{"testIP": "11.11.11.1"}]}]},
    "healthcheck": {"endpoint": "localhost:8080/health", "interval": 5, "fails": 2, "graceperiod": 30},
    "labels": {"purpose": "Testing", "team": "core"},
}
write("app_spec", "readme-web", readme_app)
with open(os.path.join(here, "..", "examples", "pod.json"), "rb") as f:
    write("app_spec", "pod-example", f.read())
write("app_spec", "pod-networks", json.dumps({
    "name": "p", "instances": 2, "networks": [{"mode": "container", "name": "cni", "labels": {"a": "b"}}],
    "volumes": [{"name": "v"}], "executor_resources": {"cpus": 0.05},
    "containers": [
        {"name": "a", "resources": {"cpu": 0.1, "mem": 32}, "command": {"cmd": "x"},
         "endpoints": [{"name": "e", "host_port": 31000, "protocol": "udp"}],
         "volume_mounts": [{"name": "v", "mount_path": "/v", "read_only": True}]},
        {"name": "b", "resources": {"cpus": 0.1, "mem": 32, "disk": 1}, "image": "alpine"}]}).encode())
write("app_spec", "hydrogen-readme-list", hydrogen)
write("app_spec", "hydrogen-readme-app", json.dumps(json.loads(hydrogen)[0]).encode())
write("app_spec", "every-field", json.dumps(full, indent=1).encode())
write("app_spec", "job-kind", b'{"name":"once","kind":"job","instances":3,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"true"}}')
write("app_spec", "duplicate-key", b'{"name":"a","name":"b","resources":{"cpu":0.1,"mem":32},"command":{"cmd":"x"}}')
write("app_spec", "duplicate-nested", b'{"name":"a","resources":{"cpu":0.1,"mem":32,"cpu":1},"command":{"cmd":"x"}}')
write("app_spec", "same-key-two-objects", b'[{"a":1},{"a":2}]')
write("app_spec", "escaped-duplicate", b'{"name":"a","n\\u0061me":"b"}')
write("app_spec", "deep", b"[" * 200 + b"]" * 200)
write("app_spec", "numbers", b'{"name":"n","instances":1e0,"resources":{"cpu":1e-3,"mem":1E9},"command":{"cmd":"-0"}}')
write("app_spec", "huge-number", b'{"x": 1e400, "y": -0, "z": 18446744073709551616}')
write("app_spec", "trailing", b'{"name":"a"} {"name":"b"}')
write("app_spec", "unicode", '{"name":"ünï","labels":{"\u2603":"\\ud83d\\ude00"}}'.encode())
write("app_spec", "lone-surrogate", b'{"name":"\\ud800"}')
write("app_spec", "bad-ip", b'{"name":"n","resources":{"cpu":0.1,"mem":32},"command":{"cmd":"x"},"container":{"network":[{"ipaddress":[{"ip":"999.1.1.1"}]}]}}')

job = {"id": "taurusjob", "tasks": [{
    "cluster": "MyCluster", "environment": "prod", "role": "web", "priority": 3,
    "container": {"image": "nginx", "command": ["nginx", "-g", "daemon off;"],
                  "volumes": [{"container_path": "/logs", "host_path": "/var/log", "mode": "ro"}]},
    "resources": {"cpu": 0.5, "memory": 64},
    "health_check": {"port": 80, "path": "/health", "interval": 5, "timeout": 2, "failures": 3},
    "replicas": 4}]}
write("job_doc", "taurus-example", json.dumps(job).encode())
write("job_doc", "minimal", b'{"id":"j","tasks":[{"container":{"image":"x"}}]}')
write("job_doc", "two-tasks", b'{"id":"j2","tasks":[{"container":{"image":"a","command":["sh","-c","echo \'hi\' && sleep 1"]}},{"container":{"image":"redis"},"replicas":2,"resources":{"cpu":0,"memory":0}}]}')
write("job_doc", "duplicate-key", b'{"id":"j","id":"k","tasks":[{"container":{"image":"x"}}]}')
write("job_doc", "unknown-field", b'{"id":"j","tasks":[{"container":{"image":"x"},"bogus":1}]}')
write("job_doc", "reserved-id", b'{"id":"all","tasks":[{"container":{"image":"x"}}]}')
write("job_doc", "no-tasks", b'{"id":"j","tasks":[]}')

write("query", "list-defaults", b"\x00/v1/api/app/all")
write("query", "list-every-param", b"\x63/v1/api/app/all?offset=5&limit=7&tasks=all&task_limit=9")
write("query", "app-cursor", b"\xff/v1/api/app?name=web&task_after=web.3.a1b2&task_limit=10000&tasks=summary")
write("query", "escapes", b"\x10/v1/api/app?name=a%20b%26c+d%zz%4&%6e%61me=x&&=&k")
write("query", "twice", b"\x01/x?limit=1&limit=2&tasks=none&tasks=all")
write("query", "jobs", b"\x05/jobs?offset=18446744073709551616&limit=+5&tasks=all")
write("query", "non-utf8", b"\x02/x?name=%ff%fe\xff\xfe&task_after=%00")
