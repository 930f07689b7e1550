//! libosdp's transport over a serial port (an RS-485 adapter such as /dev/ttyUSB0, or a `tobira-sim` PTY).
//! libosdp polls the channel from its refresh loop and requires reads that never block.

use libosdp::{Channel, ChannelError};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct SerialChannel {
    file: std::fs::File,
    id: i32,
}

/// Marks `fd` non-blocking.
pub fn set_nonblocking(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with flags read from the same descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl SerialChannel {
    pub fn open(path: &Path, baud: u32) -> std::io::Result<SerialChannel> {
        let file = crate::serial::open(path, baud, std::time::Duration::from_millis(100))?;
        set_nonblocking(file.as_raw_fd())?;
        let id = file.as_raw_fd();
        Ok(SerialChannel { file, id })
    }

    /// A channel over an already open descriptor (the simulator's PTY master).
    pub fn from_file(file: std::fs::File) -> std::io::Result<SerialChannel> {
        set_nonblocking(file.as_raw_fd())?;
        let id = file.as_raw_fd();
        Ok(SerialChannel { file, id })
    }
}

fn map(e: std::io::Error) -> ChannelError {
    match e.raw_os_error() {
        // A PTY whose other side is gone reads EIO until it returns: "nothing there", the session times
        // out and the device is reported offline.
        Some(libc::EAGAIN) | Some(libc::EIO) => ChannelError::WouldBlock,
        _ if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {
            ChannelError::WouldBlock
        }
        _ => ChannelError::TransportError,
    }
}

impl Channel for SerialChannel {
    fn get_id(&self) -> i32 {
        self.id
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        match self.file.read(buf) {
            Ok(0) => Err(ChannelError::WouldBlock),
            Ok(n) => Ok(n),
            Err(e) => Err(map(e)),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        self.file.write(buf).map_err(map)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        self.file.flush().map_err(map)
    }

    fn close(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
}
