#!/usr/bin/python3
"""A USB bus for `tobirad` that the fault tests can unplug (issue 15: "U.are.U gone").

Run as `umockdev-wrapper /usr/bin/python3 usb_testbed.py -- PROGRAM ARGS...`: it creates a umockdev testbed
(Debian's gir1.2-umockdev-1.0 and python3-gi; scripts/setup installs them) and takes one command a line on
standard input, answering each with `ok` (or `error: ...`) on standard output:

  start                  start PROGRAM inside the testbed (it sees only the testbed's devices)
  add DEVICE PCAP        plug in the device described by DEVICE (umockdev-record's format), its traffic
                         replayed from PCAP (usbmon, pcapng) as libfprint recorded it
  add-gone DEVICE PCAP   the same, but the device vanishes while it sends the image: the bulk transfer that
                         carried the image, and the interrupt transfer pending beside it, complete with
                         ESHUTDOWN, as the kernel completes a vanished device's URBs, and nothing follows
  add-idle DEVICE PCAP   the same, but the recording stops once the reader has powered up: it waits for a
                         finger that never comes (a recording has an end; what follows it is silence)
  remove                 unplug the device (its sysfs directory and /dev/bus/usb node go away)

SIGTERM is passed on to PROGRAM at once, and this script exits with PROGRAM's status, so the test stops the daemon
as it would stop one outside the testbed. umockdev 0.17 cannot unplug a device whose replay is running
(`Testbed.remove_device` leaves the open device served), so the vanishing is recorded in the traffic itself.
"""

import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

ESHUTDOWN = 108
USBMON_HEADER = 64  # DLT_USB_LINUX_MMAPPED


def blocks(data):
    """(type, raw bytes) of each pcapng block (little-endian sections only, as usbmon writes)."""
    o = 0
    while o < len(data):
        kind, length = struct.unpack_from("<II", data, o)
        if length < 12 or o + length > len(data):
            raise ValueError(f"malformed pcapng block at byte {o}")
        yield kind, data[o : o + length]
        o += length


def packet_of(raw):
    """The usbmon packet an enhanced packet block carries (the inverse of `packet_block`)."""
    caplen = struct.unpack_from("<I", raw, 20)[0]
    return raw[28 : 28 + caplen]


def packet_block(raw, packet):
    """`raw` (an enhanced packet block) carrying `packet` instead, without options."""
    iface, ts_hi, ts_lo = struct.unpack_from("<III", raw, 8)
    pad = (-len(packet)) % 4
    length = 32 + len(packet) + pad
    return (
        struct.pack("<IIIIIII", 6, length, iface, ts_hi, ts_lo, len(packet), len(packet))
        + packet
        + b"\0" * pad
        + struct.pack("<I", length)
    )


def completed_with(packet, status):
    """A usbmon completion of `packet`'s URB with `status` and no data."""
    head = bytearray(packet[:USBMON_HEADER])
    head[8:9] = b"C"
    struct.pack_into("<iII", head, 28, -status, 0, 0)  # status, urb length, captured length
    return bytes(head)


def idle(pcap, out):
    """Writes to `out` the recording `pcap` up to the first finger-on interrupt (0x0101), not included."""
    data = open(pcap, "rb").read()
    kept = []
    for kind, raw in blocks(data):
        if kind == 6:
            packet = packet_of(raw)
            event, xfer, payload = packet[8:9], packet[9], packet[USBMON_HEADER:]
            if event == b"C" and xfer == 1 and payload[:2] == b"\x01\x01":
                open(out, "wb").write(b"".join(kept))
                return
        kept.append(raw)
    raise ValueError(f"{pcap} has no finger-on interrupt to stop at")


def gone(pcap, out):
    """Writes to `out` the recording `pcap` up to the image's bulk transfer, which completes with ESHUTDOWN
    (and so does the interrupt URB pending beside it); everything after it is dropped."""
    data = open(pcap, "rb").read()
    kept = []
    pending_irq = None
    for kind, raw in blocks(data):
        if kind != 6:
            kept.append(raw)
            continue
        packet = packet_of(raw)
        event, xfer, endpoint = packet[8:9], packet[9], packet[10]
        if xfer == 1 and endpoint & 0x80:
            pending_irq = packet if event == b"S" else None
        if event == b"C" and xfer == 3 and endpoint & 0x80:
            kept.append(packet_block(raw, completed_with(packet, ESHUTDOWN)))
            if pending_irq is not None:
                kept.append(packet_block(raw, completed_with(pending_irq, ESHUTDOWN)))
            open(out, "wb").write(b"".join(kept))
            return
        kept.append(raw)
    raise ValueError(f"{pcap} has no bulk IN completion (no image) to cut")


def sysfs_path(device):
    """The device's sysfs path, from the `P:` line of umockdev-record's description."""
    with open(device) as f:
        for line in f:
            if line.startswith("P: "):
                return "/sys" + line[3:].strip()
    raise ValueError(f"{device} names no sysfs path (no `P:` line)")


def replugged(device, pcap, n, scratch):
    """The description and recording of the device plugged in again for the `n`-th time: its own block
    only (its hub and controller are still there, and umockdev refuses to add them twice) and, as the kernel
    does, a new device number, which every packet of the recording carries too (umockdev replays only the
    packets addressed to the device it serves)."""
    with open(device) as f:
        own = f.read().split("\n\n")[0] + "\n"
    old = int(re.search(r"^A: devnum=(\d+)", own, re.M).group(1))
    minor = int(re.search(r"^E: MINOR=(\d+)", own, re.M).group(1))
    new = old + n
    own = (
        own.replace(f"/{old:03d}", f"/{new:03d}")
        .replace(f"DEVNUM={old:03d}", f"DEVNUM={new:03d}")
        .replace(f"A: devnum={old}\\n", f"A: devnum={new}\\n")
        .replace(f"MINOR={minor}", f"MINOR={minor + n}")
        .replace(f"dev=189:{minor}\\n", f"dev=189:{minor + n}\\n")
    )
    out = []
    for kind, raw in blocks(open(pcap, "rb").read()):
        if kind == 6 and raw[28 + 11] == old:
            raw = raw[: 28 + 11] + bytes([new]) + raw[28 + 12 :]
        out.append(raw)
    readdressed = os.path.join(scratch, f"replug{n}.pcapng")
    open(readdressed, "wb").write(b"".join(out))
    return own, readdressed


def in_child():
    """In the child before exec: SIGTERM unblocked again (see `main`), and SIGKILL when this script dies, so a
    killed test leaves no daemon behind."""
    import ctypes

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def pass_on_sigterm(child):
    """Waits for SIGTERM and passes it on to the program (or exits, before it started)."""
    signal.sigwait({signal.SIGTERM})
    if child[0] is None:
        os._exit(143)
    child[0].send_signal(signal.SIGTERM)


def exit_with(child):
    """Exits this script as soon as the program ends, with its status (a signal as 128 + its number)."""
    rc = child.wait()
    sys.stdout.flush()
    os._exit(rc if rc >= 0 else 128 - rc)


def main():
    if "--" not in sys.argv:
        sys.exit("usage: umockdev-wrapper /usr/bin/python3 usb_testbed.py -- PROGRAM ARGS...")
    program = sys.argv[sys.argv.index("--") + 1 :]
    # SIGTERM is taken by a thread of its own: a Python handler runs only in the main thread, which sits in a
    # read of standard input that a signal delivered to another thread (umockdev's) does not interrupt.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    started = [None]
    threading.Thread(target=pass_on_sigterm, args=(started,), daemon=True).start()
    testbed = UMockdev.Testbed.new()
    scratch = tempfile.mkdtemp(prefix="usb-testbed-")
    child = None
    plugged = None
    plugs = 0
    cuts = {"add-gone": gone, "add-idle": idle}
    for n, line in enumerate(sys.stdin):
        words = line.split()
        try:
            if words == ["start"] and child is None:
                child = subprocess.Popen(program, stdin=subprocess.DEVNULL, preexec_fn=in_child)
                started[0] = child
                threading.Thread(target=exit_with, args=(child,), daemon=True).start()
            elif words and words[0] in ("add", *cuts) and len(words) == 3 and plugged is None:
                device, pcap = words[1], words[2]
                if words[0] in cuts:
                    cut = os.path.join(scratch, f"{n}.pcapng")
                    cuts[words[0]](pcap, cut)
                    pcap = cut
                if plugs:
                    own, pcap = replugged(device, pcap, plugs, scratch)
                    testbed.add_from_string(own)
                else:
                    testbed.add_from_file(device)
                plugs += 1
                plugged = sysfs_path(device)
                testbed.load_pcap(plugged, pcap)
            elif words == ["remove"] and plugged is not None:
                testbed.remove_device(plugged)
                plugged = None
            else:
                raise ValueError(f"not now, or unknown: {line.strip()!r}")
            print("ok", flush=True)
        except Exception as e:  # the test reads the answer; the daemon keeps running
            print(f"error: {e}", flush=True)
    # Standard input closed: the test is done with the bus; the daemon goes with it.
    if child is None:
        sys.exit(0)
    child.send_signal(signal.SIGTERM)
    exit_with(child)


if __name__ == "__main__":
    main()
