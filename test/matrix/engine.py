"""An engine process over PyPI's chdb (an older ClickHouse than npm's), for the version matrix.

    python engine.py --data-dir DIR

Speaks the engine-process protocol of src/engine/process.ts: newline-delimited
JSON. First line on stdout: {"ready":true,"version":"24.8.4.1"} (or
{"ready":false,"error":"..."} and exit 1). Each request line on stdin,
{"id":N,"sql":"...","format":"<format name>"}, is answered by
{"id":N,"ok":true,"text":"..."} or {"id":N,"ok":false,"error":"Code: 62. DB::Exception: ..."}.
Isolated requests ("isolated": true, what `chpipe serve` sends) are not taken:
they are answered ok:false, as the protocol allows.
End of stdin closes the session and exits 0; SIGTERM does the same at once.
Nothing but the protocol is written to stdout: the library's own output goes to stderr.
"""
import json
import os
import re
import signal
import sys

FORMAT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The protocol gets its own copy of stdout; fd 1 (where a native library may print) becomes stderr.
proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
# Requests get their own copy of stdin; fd 0 becomes /dev/null: the embedded clickhouse-local reads an
# INSERT's data from the process's stdin as well (24.8 blocks there, 25.8 swallows waiting requests).
sys.stdin = os.fdopen(os.dup(0), "r", encoding="utf-8")
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)

session = None


def send(message):
    proto.write(json.dumps(message, ensure_ascii=False) + "\n")
    proto.flush()


def close_and_exit(code):
    global session
    s, session = session, None
    if s is not None:
        try:
            s.close()
        except Exception:  # exiting anyway
            pass
    os._exit(code)


def result_text(result):
    data = getattr(result, "bytes", None)
    if callable(data):
        raw = data()
        if raw is not None:
            return raw.decode("utf-8", "replace")
    return str(result)


def main():
    global session
    args = sys.argv[1:]
    if len(args) != 2 or args[0] != "--data-dir":
        send({"ready": False, "error": "usage: engine.py --data-dir DIR"})
        return 1
    signal.signal(signal.SIGTERM, lambda *_: close_and_exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.makedirs(args[1], exist_ok=True)
        from chdb import session as chdb_session

        session = chdb_session.Session(args[1])
        version = result_text(session.query("SELECT version()", "TSV")).strip()
    except Exception as e:  # the engine could not open: say why, once
        send({"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    send({"ready": True, "version": version})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            rid = request.get("id")
            sql = request["sql"]
            fmt = request.get("format", "TSV")
            if not isinstance(rid, int) or not isinstance(sql, str) or not isinstance(fmt, str) or not FORMAT_NAME.match(fmt):
                raise ValueError("a request is {id: integer, sql: string, format: a format name}")
        except Exception as e:
            send({"id": None, "ok": False, "error": f"unreadable request: {e}"})
            continue
        if any(key in request for key in ("isolated", "database", "settings", "readonly", "params")):
            send({"id": rid, "ok": False, "error": "this engine process does not take isolated requests (database, settings, readonly, params)"})
            continue
        try:
            send({"id": rid, "ok": True, "text": result_text(session.query(sql, fmt))})
        except Exception as e:
            send({"id": rid, "ok": False, "error": str(e)})
    close_and_exit(0)


if __name__ == "__main__":
    sys.exit(main())
