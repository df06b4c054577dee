//! The bytes of an ImportCsv upload as a blocking reader for the parser's thread. The end of
//! the file is only what the client marks as such (it half-closed its stream): a call that
//! breaks off mid-file is an error, so the parser never takes a cut-off last line for a
//! complete record.

use std::io::{self, Read};

use tokio::sync::mpsc;

/// What the upload hands the parser.
#[derive(Debug)]
pub enum Upload {
    /// The next bytes of the file.
    Chunk(Vec<u8>),
    /// The client ended its stream cleanly: the file is complete.
    End,
}

/// The read error of an upload that stopped without [`Upload::End`].
#[derive(Debug, thiserror::Error)]
#[error("the upload stopped before the client finished sending the file")]
pub struct UploadAborted;

/// Whether `error` is the [`UploadAborted`] of a [`ChunkReader`] (as it reaches the parser,
/// through the decoder and the CSV reader).
pub fn is_aborted(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<UploadAborted>())
}

pub struct ChunkReader {
    chunks: mpsc::Receiver<Upload>,
    current: Vec<u8>,
    position: usize,
    ended: bool,
}

impl ChunkReader {
    pub fn new(chunks: mpsc::Receiver<Upload>) -> Self {
        Self {
            chunks,
            current: Vec::new(),
            position: 0,
            ended: false,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position >= self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.chunks.blocking_recv() {
                Some(Upload::Chunk(chunk)) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Some(Upload::End) => self.ended = true,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        UploadAborted,
                    ));
                }
            }
        }
        let n = out.len().min(self.current.len() - self.position);
        out[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(parts: Vec<Upload>) -> io::Result<Vec<u8>> {
        let (sender, receiver) = mpsc::channel(parts.len().max(1));
        for part in parts {
            sender.try_send(part).expect("room for every part");
        }
        drop(sender);
        let mut bytes = Vec::new();
        ChunkReader::new(receiver).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    #[test]
    fn a_marked_end_is_the_end_of_the_file() {
        let bytes = read_all(vec![
            Upload::Chunk(b"ab".to_vec()),
            Upload::Chunk(Vec::new()),
            Upload::Chunk(b"c".to_vec()),
            Upload::End,
        ])
        .expect("a complete upload");
        assert_eq!(bytes, b"abc");
    }

    #[test]
    fn a_stream_that_stops_without_the_mark_is_an_abort() {
        let error = read_all(vec![Upload::Chunk(b"a,b\nc,".to_vec())]).expect_err("no end mark");
        assert!(is_aborted(&error), "{error}");
        let other = io::Error::new(io::ErrorKind::ConnectionAborted, "something else");
        assert!(!is_aborted(&other));
    }
}
