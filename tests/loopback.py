"""An aiohttp application served on 127.0.0.1 from a thread of its own, for the HTTP stand-ins of the tests
(fake_openai.FakeOpenAI, fake_hub.FakeHub): `with Server() as server:` and requests go to `server.url`."""

import asyncio
import socket
import threading

from aiohttp import web


class LoopbackServer:
    """Subclasses build their application in `app()`; `url` is the address plus `path`."""

    def __init__(self, path: str = ""):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}{path}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = threading.Event()

    def app(self) -> web.Application:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.SockSite(runner, self._socket, backlog=1024).start())
        self._started.set()
        self._loop.run_forever()
        for task in asyncio.all_tasks(self._loop):  # requests still held open (a test's hold, a slow answer)
            task.cancel()
        self._loop.run_until_complete(runner.cleanup())
