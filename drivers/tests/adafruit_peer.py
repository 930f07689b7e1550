"""A peer we did not write drives our R30x simulator: Adafruit's CircuitPython fingerprint library over
pyserial on the simulator's pseudo-terminal (issue 5). Exits non-zero on any mismatch."""
import struct
import sys

import adafruit_fingerprint
import serial

path = sys.argv[1]
uart = serial.Serial(path, baudrate=57600, timeout=2)
finger = adafruit_fingerprint.Adafruit_Fingerprint(uart)  # handshake: VfyPwd + ReadSysPara
assert finger.library_size == 200, finger.library_size
assert finger.data_packet_size == 2, finger.data_packet_size
assert finger.baudrate == 6, finger.baudrate
assert finger.get_image() == adafruit_fingerprint.OK
data = finger.get_fpdata("image")
assert len(data) == 256 * 288 // 2, len(data)
for y in (0, 1, 287):
    for x in range(0, 256, 2):
        want = ((((x + y) % 16) << 4) | ((x + 1 + y) % 16))
        got = data[y * 128 + x // 2]
        assert got == want, (x, y, got, want)
# Strictness: a command with a wrong checksum gets 01 (receive error), like the real module.
pkt = bytes([0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x03, 0x01, 0x00, 0x06])
uart.write(pkt)
reply = uart.read(12)
assert len(reply) == 12, reply
assert reply[6] == 0x07 and reply[9] == 0x01, reply.hex()
assert finger.set_led(color=2, mode=3) == adafruit_fingerprint.OK
# The baud register (SetSysPara 4, N = 12): acknowledged at 57,600; the module then answers only at
# 115,200, where the register reads back 12 and a capture still works (R30x.md §1-§3).
assert finger.set_sysparam(4, 12) == adafruit_fingerprint.OK
uart.reset_input_buffer()
uart.baudrate = 115200
assert finger.read_sysparam() == adafruit_fingerprint.OK
assert finger.baudrate == 12, finger.baudrate
assert finger.get_image() == adafruit_fingerprint.OK
uart.baudrate = 57600
uart.write(bytes([0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x03, 0x0F, 0x00, 0x13]))  # ReadSysPara
assert uart.read(28) == b"", "a host left at the old rate is not answered"
print("adafruit peer: handshake, system parameters, image capture and 36,864-byte upload, strict checksums, "
      "baud register raised to 115,200 and read back: ok")
