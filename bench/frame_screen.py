"""A client's Xvfb with its framebuffer in a file (-fbdir: an XWD image the
server maps as its screen), so that a benchmark reads a frame in
milliseconds instead of the ~0.3 s of xwd + convert. Shared by
xrdp_bench.py and nx_bench.py; each adds how it recognises its desktop."""

import os
import struct
import subprocess
import tempfile

from rdp_client import ClientScreen
from systest import wait


class FrameScreen(ClientScreen):
    """`noreset`: Xvfb -noreset (an X server that resets when its last
    client leaves closes connections still in their setup: docs/nx.md)."""

    def __init__(self, display, geometry, prefix, noreset=False):
        super().__init__(display=display, geometry=geometry)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.noreset = noreset

    def __enter__(self):
        self.proc = subprocess.Popen(["Xvfb", self.display, "-screen", "0", self.geometry, "-nolisten", "tcp", "-br",
                                      "-fbdir", self.dir] + (["-noreset"] if self.noreset else []),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        path = os.path.join(self.dir, "Xvfb_screen0")
        wait(lambda: os.path.exists(f"/tmp/.X11-unix/X{self.display[1:]}") and os.path.exists(path), 20,
             "the client's Xvfb")
        self.fb = open(path, "rb", buffering=0)  # unbuffered: every read sees the server's pixels

        def header():
            self.fb.seek(0)
            data = self.fb.read(100)
            # Xvfb creates the file before it writes the XWD header.
            return struct.unpack(">25I", data) if len(data) == 100 and data[:4] != bytes(4) else None
        h = wait(header, 20, "the client's Xvfb to write its framebuffer header")
        # bits_per_pixel (11), bytes_per_line (12), red_mask (14); byte order (7) LSBFirst
        if h[11] != 32 or h[14] != 0xff0000 or h[7] != 0:
            raise RuntimeError(f"unexpected XWD layout {h}")
        # The pixels are the file's last bytes_per_line * height bytes.
        self.offset = os.fstat(self.fb.fileno()).st_size - h[12] * h[5]
        return self

    def __exit__(self, *exc):
        self.fb.close()
        super().__exit__(*exc)

    def pixels(self):
        """The screen's pixels now, 4 bytes each (b g r pad, LSBFirst)."""
        self.fb.seek(self.offset)
        return self.fb.read()
