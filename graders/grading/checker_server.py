"""``python -m graders.grading.checker_server SOCKET [WARM_UPS]``: forks warm checkers on request.

It imports what checkers need once (``graders.grading.checker_main``: torch, numpy,
matplotlib, IPython, the check library), then for each connection on SOCKET forks a child
that becomes one checker, talking to the grader over that connection.  It exits when its
standard input closes (the grading process that started it is gone).
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
from multiprocessing.connection import Connection


def serve(path: str, warm_ups: tuple[str, ...]) -> None:
    from . import checker_main

    checker_main.warm(warm_ups)
    gc.freeze()  # what the server imported is never collected in a checker: no scan, no copy-on-write
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped without waiting for them
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # appears once it accepts: the grader waits for the name
    listener.listen(64)
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            channel = Connection(conn.detach())
            request = channel.recv()
            channel.send({"pid": os.getpid()})
            checker_main.main(channel, str(request["secret"]), float(request.get("connect_timeout", 30)))
            os._exit(0)
        conn.close()
    listener.close()
    os.unlink(path)


if __name__ == "__main__":
    from .sandbox.zygote import warm_ups_from

    serve(sys.argv[1], warm_ups_from(sys.argv[2] if len(sys.argv) > 2 else None))
