"""Runs inside the sandbox, before the tool's program: drops to the sandbox user, applies
the resource limits, then runs the program. Standard library only; it is executed by the
base interpreter, never imported by the service.

argv: UID GID ADDRESS_SPACE_BYTES MAX_PROCESSES MAX_FILE_BYTES CPU_SECONDS MODE TARGET...
MODE "python" runs the script TARGET in this interpreter; MODE "exec" replaces this
process with the command TARGET... . UID -1 keeps the current user.

The limits are set here, inside the namespaces, rather than on the outer process so that
the process count is charged to the sandbox user alone.

When the service proxies egress, its socket is bound at EGRESS_SOCKET: a forwarder process
then listens on the jail's loopback (the only interface it has) at PROXY_PORT, where the
program's HTTP(S)_PROXY points, and relays each connection to that socket.
"""

import os
import resource
import socket
import sys
import threading

NO_CHANGE = -1
OPEN_FILES = 256
EGRESS_SOCKET = "/run/sandbox-egress.sock"
PROXY_PORT = 3128
RELAY_CHUNK = 65536


def drop_privileges(uid: int, gid: int) -> None:
    if uid == NO_CHANGE:
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("sandbox launcher: could not drop privileges")


def apply_limits(address_space: int, processes: int, file_bytes: int, cpu_seconds: int) -> None:
    limits = (
        (resource.RLIMIT_AS, address_space),
        (resource.RLIMIT_NPROC, processes),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
    )
    for kind, value in limits:
        resource.setrlimit(kind, (value, value))


def start_egress_forwarder() -> None:
    """Listen before the program starts (so its first request finds the port), then serve
    from a child process that lives as long as the jail."""
    if not os.path.exists(EGRESS_SOCKET):
        return
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PROXY_PORT))
    listener.listen(64)
    if os.fork() != 0:
        listener.close()
        return
    os.closerange(0, 3)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=forward, args=(client,), daemon=True).start()


def forward(client: socket.socket) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(EGRESS_SOCKET)
    except OSError:
        client.close()
        return
    back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    back.start()
    copy(client, upstream)
    back.join()
    client.close()
    upstream.close()


def copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(RELAY_CHUNK):
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        source.close()
        sink.close()


def run_python(script: str) -> None:
    import runpy

    # Like `python -P script`: the script's directory is not searched for imports, so a
    # file the program writes there can never shadow a standard module.
    sys.argv = [script]
    try:
        runpy.run_path(script, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        report_without_launcher(exc, script)
        sys.exit(1)


def report_without_launcher(exc: BaseException, script: str) -> None:
    """Print the traceback from the program's own first frame, as `python script` would."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)


def main(argv: list[str]) -> None:
    uid, gid, address_space, processes, file_bytes, cpu_seconds = (int(a) for a in argv[:6])
    mode, target = argv[6], argv[7:]
    drop_privileges(uid, gid)
    start_egress_forwarder()
    apply_limits(address_space, processes, file_bytes, cpu_seconds)
    if mode == "python":
        run_python(target[0])
    else:
        os.execv(target[0], target)


if __name__ == "__main__":
    main(sys.argv[1:])
