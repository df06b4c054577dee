//! Text decoding of an uploaded file into UTF-8, streamed: a byte-order mark decides (UTF-8,
//! UTF-16LE, UTF-16BE); without one a declared encoding is used, and an undeclared file is
//! UTF-8 when its first 64 KiB are, otherwise Windows-1252. Invalid input is an error that
//! names the byte offset, never silently replaced.

use std::io::{self, Read};

use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8, WINDOWS_1252};
use lma_proto::v1::CsvEncoding;

/// How much of an undeclared file is inspected to tell UTF-8 from Windows-1252.
const SNIFF_BYTES: usize = 64 * 1024;

/// Reads `inner` as text in the chosen encoding and yields UTF-8.
pub struct DecodingReader<R> {
    inner: R,
    declared: CsvEncoding,
    state: Option<State>,
    /// Undecoded input, and how far into it decoding has got.
    input: Vec<u8>,
    input_pos: usize,
    input_done: bool,
    /// The decoder was flushed at the end of the input; it must not be used again.
    finished: bool,
    /// Bytes of input consumed before `input`, for error offsets.
    consumed: u64,
    /// Decoded UTF-8 not yet handed out.
    pending: Vec<u8>,
    pending_pos: usize,
}

/// Decoded bytes produced per step.
const OUTPUT_BYTES: usize = 64 * 1024;

struct State {
    encoding: &'static Encoding,
    decoder: Decoder,
}

impl<R: Read> DecodingReader<R> {
    pub fn new(inner: R, declared: CsvEncoding) -> Self {
        Self {
            inner,
            declared,
            state: None,
            input: Vec::new(),
            input_pos: 0,
            input_done: false,
            finished: false,
            consumed: 0,
            pending: Vec::new(),
            pending_pos: 0,
        }
    }

    /// The encoding chosen, once the first bytes were read.
    pub fn encoding(&self) -> Option<CsvEncoding> {
        self.state.as_ref().map(|state| {
            if state.encoding == UTF_8 {
                CsvEncoding::Utf8
            } else if state.encoding == WINDOWS_1252 {
                CsvEncoding::Windows1252
            } else {
                CsvEncoding::Utf16
            }
        })
    }

    /// Reads more input; false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.input_pos > 0 {
            self.consumed += self.input_pos as u64;
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        let mut buffer = [0u8; 16 * 1024];
        let read = self.inner.read(&mut buffer)?;
        if read == 0 {
            self.input_done = true;
            return Ok(false);
        }
        self.input.extend_from_slice(&buffer[..read]);
        Ok(true)
    }

    fn start(&mut self) -> io::Result<()> {
        // Enough input to see a BOM, and to sniff an undeclared file.
        let wanted = if self.declared == CsvEncoding::Unspecified {
            SNIFF_BYTES
        } else {
            3
        };
        while self.input.len() < wanted && self.fill()? {}
        let (bom, bom_len) = match Encoding::for_bom(&self.input) {
            Some((encoding, len)) => (Some(encoding), len),
            None => (None, 0),
        };
        let encoding = match (bom, self.declared) {
            (Some(encoding), CsvEncoding::Utf8) if encoding != UTF_8 => {
                return Err(invalid(format!(
                    "the file starts with a {} byte-order mark but was declared UTF-8",
                    encoding.name()
                )));
            }
            (Some(encoding), _) => encoding,
            (None, CsvEncoding::Utf8) => UTF_8,
            (None, CsvEncoding::Windows1252) => WINDOWS_1252,
            (None, CsvEncoding::Utf16) => {
                return Err(invalid(
                    "a UTF-16 file must start with a byte-order mark (FF FE or FE FF)".into(),
                ));
            }
            (None, CsvEncoding::Unspecified) => sniff(&self.input, self.input_done),
        };
        self.input_pos = bom_len;
        self.state = Some(State {
            encoding,
            decoder: encoding.new_decoder_without_bom_handling(),
        });
        Ok(())
    }
}

/// UTF-8 when the sample is (an incomplete last character aside), otherwise Windows-1252.
fn sniff(sample: &[u8], complete: bool) -> &'static Encoding {
    match std::str::from_utf8(sample) {
        Ok(_) => UTF_8,
        Err(error) if error.error_len().is_none() && !complete => UTF_8,
        Err(_) => WINDOWS_1252,
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pending_pos >= self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
            let mut buffer = std::mem::take(&mut self.pending);
            buffer.resize(OUTPUT_BYTES, 0);
            let result = self.decode_into(&mut buffer);
            if let Ok(written) = &result {
                buffer.truncate(*written);
            } else {
                buffer.clear();
            }
            self.pending = buffer;
            result?;
        }
        let n = out.len().min(self.pending.len() - self.pending_pos);
        out[..n].copy_from_slice(&self.pending[self.pending_pos..self.pending_pos + n]);
        self.pending_pos += n;
        Ok(n)
    }
}

impl<R: Read> DecodingReader<R> {
    /// Decodes the next piece of input into `out` (at least 4 bytes long); 0 at the end.
    fn decode_into(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.state.is_none() {
            self.start()?;
        }
        loop {
            if self.finished {
                return Ok(0);
            }
            if self.input_pos >= self.input.len() && !self.input_done {
                self.fill()?;
                continue;
            }
            let last = self.input_done;
            let Some(state) = self.state.as_mut() else {
                return Ok(0);
            };
            let (result, read, written) = state.decoder.decode_to_utf8_without_replacement(
                &self.input[self.input_pos..],
                out,
                last,
            );
            let offset = self.consumed + self.input_pos as u64;
            self.input_pos += read;
            if last && matches!(result, DecoderResult::InputEmpty) {
                self.finished = true;
            }
            match result {
                DecoderResult::Malformed(bad, _) => {
                    let at = (offset + read as u64).saturating_sub(u64::from(bad));
                    return Err(invalid(format!(
                        "the file is not valid {} at byte {at}; declare its encoding \
                         (UTF-8, UTF-16 with byte-order mark, or Windows-1252)",
                        state.encoding.name()
                    )));
                }
                _ if written > 0 => return Ok(written),
                DecoderResult::InputEmpty if last => return Ok(0),
                // The decoder holds an incomplete character: it needs more input.
                _ => {
                    self.fill()?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], declared: CsvEncoding) -> io::Result<(String, Option<CsvEncoding>)> {
        // One byte at a time: chunk boundaries may fall inside characters.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match self.0.split_first() {
                    Some((first, rest)) if !out.is_empty() => {
                        out[0] = *first;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut reader = DecodingReader::new(Trickle(bytes), declared);
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        Ok((text, reader.encoding()))
    }

    #[test]
    fn utf8_with_and_without_bom() {
        let (text, encoding) =
            decode("\u{feff}név,ü\n".as_bytes(), CsvEncoding::Unspecified).expect("valid");
        assert_eq!(
            (text.as_str(), encoding),
            ("név,ü\n", Some(CsvEncoding::Utf8))
        );
        let (text, _) = decode("név".as_bytes(), CsvEncoding::Utf8).expect("valid");
        assert_eq!(text, "név");
    }

    #[test]
    fn utf16_by_bom() {
        let mut le = vec![0xFF, 0xFE];
        le.extend("Müller,ß".encode_utf16().flat_map(u16::to_le_bytes));
        let (text, encoding) = decode(&le, CsvEncoding::Unspecified).expect("valid");
        assert_eq!(
            (text.as_str(), encoding),
            ("Müller,ß", Some(CsvEncoding::Utf16))
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend("Zoë".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be, CsvEncoding::Utf16).expect("valid").0, "Zoë");
    }

    #[test]
    fn windows_1252_is_detected_or_declared() {
        let bytes = b"Caf\xe9,M\xfcller \x80\n";
        let (text, encoding) = decode(bytes, CsvEncoding::Unspecified).expect("valid");
        assert_eq!(
            (text.as_str(), encoding),
            ("Café,Müller €\n", Some(CsvEncoding::Windows1252))
        );
        assert_eq!(
            decode(bytes, CsvEncoding::Windows1252).expect("valid").0,
            "Café,Müller €\n"
        );
    }

    #[test]
    fn invalid_input_is_an_error_naming_the_offset() {
        let error = decode(b"abc\xe9def", CsvEncoding::Utf8).expect_err("invalid UTF-8");
        assert!(error.to_string().contains("byte 3"), "{error}");
        let error = decode(b"abc", CsvEncoding::Utf16).expect_err("no BOM");
        assert!(error.to_string().contains("byte-order mark"), "{error}");
    }
}
