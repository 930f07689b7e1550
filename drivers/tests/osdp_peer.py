"""A peer we did not write: the PyPI `libosdp` package (Python bindings of libosdp) runs an OSDP
peripheral device on a pseudo-terminal it opens itself, linked at argv[1], with Secure Channel key argv[2].
Our Rust control panel drives it; this script checks what arrives and answers with events.
Prints one line per step and "ok" at the end; exits non-zero on any mismatch."""
import os
import sys
import time

import osdp

link, key_hex = sys.argv[1], sys.argv[2]


class PtyChannel(osdp.Channel):
    def __init__(self, fd):
        super().__init__()
        self.fd = fd
        os.set_blocking(fd, False)

    def read(self, max_read):
        try:
            return os.read(self.fd, max_read)
        except (BlockingIOError, OSError):
            return b""

    def write(self, buf):
        try:
            return os.write(self.fd, buf)
        except (BlockingIOError, OSError):
            return 0

    def flush(self):
        pass

    def __del__(self):
        pass


master, slave = os.openpty()
tty = os.ttyname(slave)
import termios, tty as ttymod
ttymod.setraw(slave)
if os.path.lexists(link):
    os.remove(link)
os.symlink(tty, link)

info = osdp.PDInfo(1, PtyChannel(master), scbk=bytes.fromhex(key_hex), name="python-pd")
caps = osdp.PDCapabilities([
    (osdp.Capability.OutputControl, 1, 1),
    (osdp.Capability.ContactStatusMonitoring, 1, 2),
    (osdp.Capability.LEDControl, 1, 1),
    (osdp.Capability.AudibleControl, 1, 1),
    (osdp.Capability.CommunicationSecurity, 1, 1),
])
pd = osdp.PeripheralDevice(info, caps, log_level=osdp.LogLevel.Warning)
pd.start()


def fail(msg):
    print("FAIL", msg, flush=True)
    pd.teardown()
    sys.exit(1)


print("ready", flush=True)
if not pd.sc_wait(20):
    fail("secure channel never came up")
print("sc", flush=True)

cmd = pd.get_command(timeout=20)
if not cmd or cmd.get("command") != osdp.Command.Output or cmd.get("control_code") != 5:
    fail(f"expected an output pulse, got {cmd}")
print(f"output {cmd['output_no']} timer {cmd['timer_count']}", flush=True)

r1 = pd.submit_event({"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "nr_entries": 2,
                      "report": bytes([1, 0])})
time.sleep(0.3)
r2 = pd.submit_event({"event": osdp.Event.CardRead, "reader_no": 0, "format": osdp.CardFormat.Unspecified,
                      "direction": 0, "length": 32, "data": bytes([0xDE, 0xAD, 0xBE, 0xEF])})
print(f"events sent {r1} {r2}", flush=True)
if not (r1 and r2):
    fail("libosdp refused an event")

deadline = time.time() + 20
while time.time() < deadline:
    cmd = pd.get_command(timeout=1)
    if cmd and cmd.get("command") == osdp.Command.LED:
        print(f"led {cmd}", flush=True)
        break
else:
    fail("no LED command")
time.sleep(0.5)
pd.teardown()
print("ok", flush=True)
