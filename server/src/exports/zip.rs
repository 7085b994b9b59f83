//! A zip archive written front to back, each entry deflated as it is written, so an archive of
//! any size streams with flat memory: sizes and CRC go in a data descriptor after each entry
//! (general-purpose flag bit 3), the central directory at the end. Entries and archives over
//! 4 GiB get ZIP64 records. Names are UTF-8 (flag bit 11).
//!
//! Written here rather than with the `zip` crate: that crate needs `Seek` to write (it patches
//! each local header after the entry), and a response body cannot seek.

use std::io::Write;

use flate2::{Compression, write::DeflateEncoder};

/// One entry as the central directory lists it.
struct Written {
    name: String,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// The entry being written.
struct Current {
    name: String,
    offset: u64,
    crc: crc32fast::Hasher,
    size: u64,
    compressed: u64,
    encoder: DeflateEncoder<Vec<u8>>,
}

/// A zip archive being written into a caller's buffer, which the caller drains as it likes.
pub struct ZipWriter {
    offset: u64,
    written: Vec<Written>,
    current: Option<Current>,
    dos_time: u16,
    dos_date: u16,
    level: Compression,
}

const FLAGS: u16 = (1 << 3) | (1 << 11);
const DEFLATE: u16 = 8;
const U32_MAX: u64 = u32::MAX as u64;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl ZipWriter {
    /// A new archive whose entries are dated `now` (UTC) and deflated at `level`.
    pub fn new(now: time::OffsetDateTime, level: u32) -> ZipWriter {
        let year = u16::try_from(now.year().clamp(1980, 2107) - 1980).unwrap_or(0);
        ZipWriter {
            offset: 0,
            written: Vec::new(),
            current: None,
            dos_time: (u16::from(now.hour()) << 11)
                | (u16::from(now.minute()) << 5)
                | (u16::from(now.second()) / 2),
            dos_date: (year << 9) | (u16::from(u8::from(now.month())) << 5) | u16::from(now.day()),
            level: Compression::new(level),
        }
    }

    fn put(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
    }

    /// Starts entry `name` (ending the one being written, if any).
    pub fn begin(&mut self, name: &str, out: &mut Vec<u8>) {
        self.end(out);
        let mut h = Vec::with_capacity(30 + name.len());
        u32le(&mut h, 0x0403_4b50);
        u16le(&mut h, 45);
        u16le(&mut h, FLAGS);
        u16le(&mut h, DEFLATE);
        u16le(&mut h, self.dos_time);
        u16le(&mut h, self.dos_date);
        u32le(&mut h, 0);
        u32le(&mut h, 0);
        u32le(&mut h, 0);
        u16le(&mut h, name.len() as u16);
        u16le(&mut h, 0);
        h.extend_from_slice(name.as_bytes());
        let offset = self.offset;
        self.put(out, &h);
        self.current = Some(Current {
            name: name.to_owned(),
            offset,
            crc: crc32fast::Hasher::new(),
            size: 0,
            compressed: 0,
            encoder: DeflateEncoder::new(Vec::with_capacity(64 * 1024), self.level),
        });
    }

    /// Appends `data` to the current entry; what the deflater has ready goes to `out`.
    pub fn write(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        c.crc.update(data);
        c.size += data.len() as u64;
        // Writing to a Vec cannot fail.
        let _ = c.encoder.write_all(data);
        let ready = std::mem::take(c.encoder.get_mut());
        c.compressed += ready.len() as u64;
        self.offset += ready.len() as u64;
        out.extend_from_slice(&ready);
        // Keep the buffer's capacity for the next write.
        let mut ready = ready;
        ready.clear();
        *self.current.as_mut().expect("current").encoder.get_mut() = ready;
    }

    /// Ends the current entry, if any: the deflater's tail and the data descriptor.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        let Some(c) = self.current.take() else {
            return;
        };
        let Current {
            name,
            offset,
            crc,
            size,
            mut compressed,
            encoder,
        } = c;
        let tail = encoder.finish().unwrap_or_default();
        compressed += tail.len() as u64;
        self.put(out, &tail);
        let crc = crc.finalize();
        let mut d = Vec::with_capacity(24);
        u32le(&mut d, 0x0807_4b50);
        u32le(&mut d, crc);
        if compressed >= U32_MAX || size >= U32_MAX {
            u64le(&mut d, compressed);
            u64le(&mut d, size);
        } else {
            u32le(&mut d, compressed as u32);
            u32le(&mut d, size as u32);
        }
        self.put(out, &d);
        self.written.push(Written {
            name,
            crc,
            compressed,
            size,
            offset,
        });
    }

    /// A whole entry at once.
    pub fn entry(&mut self, name: &str, data: &[u8], out: &mut Vec<u8>) {
        self.begin(name, out);
        self.write(data, out);
        self.end(out);
    }

    /// Ends the archive: the central directory and its end records.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.end(out);
        let start = self.offset;
        let mut cd = Vec::new();
        for w in &self.written {
            let big = w.compressed >= U32_MAX || w.size >= U32_MAX || w.offset >= U32_MAX;
            let mut extra = Vec::new();
            if big {
                u16le(&mut extra, 1);
                u16le(&mut extra, 24);
                u64le(&mut extra, w.size);
                u64le(&mut extra, w.compressed);
                u64le(&mut extra, w.offset);
            }
            let clip = |v: u64| if big { u32::MAX } else { v as u32 };
            u32le(&mut cd, 0x0201_4b50);
            u16le(&mut cd, 45 | (3 << 8));
            u16le(&mut cd, 45);
            u16le(&mut cd, FLAGS);
            u16le(&mut cd, DEFLATE);
            u16le(&mut cd, self.dos_time);
            u16le(&mut cd, self.dos_date);
            u32le(&mut cd, w.crc);
            u32le(&mut cd, clip(w.compressed));
            u32le(&mut cd, clip(w.size));
            u16le(&mut cd, w.name.len() as u16);
            u16le(&mut cd, extra.len() as u16);
            u16le(&mut cd, 0);
            u16le(&mut cd, 0);
            u16le(&mut cd, 0);
            // Regular file, rw-r--r--.
            u32le(&mut cd, 0o100644 << 16);
            u32le(&mut cd, clip(w.offset));
            cd.extend_from_slice(w.name.as_bytes());
            cd.extend_from_slice(&extra);
        }
        let cd_size = cd.len() as u64;
        self.put(out, &cd);
        let n = self.written.len() as u64;
        let zip64 = start >= U32_MAX || n >= 0xFFFF;
        let mut end = Vec::new();
        if zip64 {
            let eocd64 = self.offset;
            u32le(&mut end, 0x0606_4b50);
            u64le(&mut end, 44);
            u16le(&mut end, 45);
            u16le(&mut end, 45);
            u32le(&mut end, 0);
            u32le(&mut end, 0);
            u64le(&mut end, n);
            u64le(&mut end, n);
            u64le(&mut end, cd_size);
            u64le(&mut end, start);
            u32le(&mut end, 0x0706_4b50);
            u32le(&mut end, 0);
            u64le(&mut end, eocd64);
            u32le(&mut end, 1);
        }
        u32le(&mut end, 0x0605_4b50);
        u16le(&mut end, 0);
        u16le(&mut end, 0);
        u16le(&mut end, n.min(0xFFFF) as u16);
        u16le(&mut end, n.min(0xFFFF) as u16);
        u32le(&mut end, cd_size.min(U32_MAX) as u32);
        u32le(&mut end, if zip64 { u32::MAX } else { start as u32 });
        u16le(&mut end, 0);
        self.put(out, &end);
    }
}
