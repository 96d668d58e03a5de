//! Bytes from stdin as text. Logs from Windows are often not UTF-8: PowerShell redirects in
//! UTF-16 with a byte-order mark, cmd.exe and older programs write the system's ANSI or OEM
//! code page (GBK on a Chinese Windows, Shift_JIS on a Japanese one, CP850 in a Western
//! European console, ...). A byte string carries no name of its encoding, so a legacy code page
//! is chosen only by evidence: the one under which the bytes decode without error and hold one
//! of Windows' own texts in that code page's languages.

use encoding_rs::Encoding;
use tcpmortem_core::Os;
use tcpmortem_core::query::{self, Explanation};

/// How the bytes were read, when that is not plain UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// A legacy code page, chosen because a Windows text matched under it.
    CodePage(&'static CodePage),
    /// Not UTF-8, and no code page gave a known text: invalid bytes were replaced.
    Utf8Lossy,
}

impl Read {
    /// What to tell the user on stderr, if anything.
    pub fn note(self) -> Option<String> {
        match self {
            Read::Utf8 | Read::Utf8Bom | Read::Utf16Le | Read::Utf16Be => None,
            Read::CodePage(cp) => Some(format!(
                "stdin is not UTF-8; read it as {} (Windows code page {}), under which it holds Windows' own text in {}",
                cp.name,
                cp.number,
                cp.languages.join(", ")
            )),
            Read::Utf8Lossy => Some(
                "stdin is not UTF-8 and no Windows code page gave a known text; invalid bytes were replaced".into(),
            ),
        }
    }

    /// The encoding's name for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Read::Utf8 => "UTF-8",
            Read::Utf8Bom => "UTF-8 (BOM)",
            Read::Utf16Le => "UTF-16LE",
            Read::Utf16Be => "UTF-16BE",
            Read::CodePage(cp) => cp.name,
            Read::Utf8Lossy => "UTF-8 (invalid bytes replaced)",
        }
    }
}

/// A Windows code page and the languages of `localized.tsv` whose systems print in it.
#[derive(Debug, PartialEq, Eq)]
pub struct CodePage {
    pub name: &'static str,
    pub number: u16,
    pub languages: &'static [&'static str],
    decoder: Decoder,
}

#[derive(Debug, PartialEq, Eq)]
enum Decoder {
    /// A WHATWG encoding (encoding_rs).
    Whatwg(&'static Encoding),
    /// DOS code page 850, the console code page of Western European Windows (oem_cp).
    Cp850,
}

/// The ANSI and OEM code pages of the languages Windows' texts are known in. The CJK ANSI and
/// OEM pages are the same; Russian has 1251 (ANSI) and 866 (console); Western European
/// languages have 1252 (ANSI) and 850 (console).
pub static CODE_PAGES: &[CodePage] = &[
    CodePage {
        name: "GBK",
        number: 936,
        languages: &["zh-CN"],
        decoder: Decoder::Whatwg(encoding_rs::GBK),
    },
    CodePage {
        name: "Big5",
        number: 950,
        languages: &["zh-TW"],
        decoder: Decoder::Whatwg(encoding_rs::BIG5),
    },
    CodePage {
        name: "Shift_JIS",
        number: 932,
        languages: &["ja"],
        decoder: Decoder::Whatwg(encoding_rs::SHIFT_JIS),
    },
    CodePage {
        name: "EUC-KR",
        number: 949,
        languages: &["ko"],
        decoder: Decoder::Whatwg(encoding_rs::EUC_KR),
    },
    CodePage {
        name: "windows-1251",
        number: 1251,
        languages: &["ru"],
        decoder: Decoder::Whatwg(encoding_rs::WINDOWS_1251),
    },
    CodePage {
        name: "IBM866",
        number: 866,
        languages: &["ru"],
        decoder: Decoder::Whatwg(encoding_rs::IBM866),
    },
    CodePage {
        name: "windows-1252",
        number: 1252,
        languages: &["de", "es", "fr", "it", "pt-BR"],
        decoder: Decoder::Whatwg(encoding_rs::WINDOWS_1252),
    },
    CodePage {
        name: "IBM850",
        number: 850,
        languages: &["de", "es", "fr", "it", "pt-BR"],
        decoder: Decoder::Cp850,
    },
];

impl CodePage {
    /// The text, or `None` when the bytes are not valid in this code page.
    fn decode(&self, bytes: &[u8]) -> Option<String> {
        match self.decoder {
            Decoder::Whatwg(e) => e
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(|c| c.into_owned()),
            // Every byte is defined in CP850.
            Decoder::Cp850 => Some(oem_cp::decode_string_complete_table(
                bytes,
                &oem_cp::code_table::DECODING_TABLE_CP850,
            )),
        }
    }

    /// The bytes of `text` in this code page (tests make their inputs with it).
    #[cfg(test)]
    pub fn encode(&self, text: &str) -> Option<Vec<u8>> {
        match self.decoder {
            Decoder::Whatwg(e) => {
                let (bytes, _, unmappable) = e.encode(text);
                (!unmappable).then(|| bytes.into_owned())
            }
            Decoder::Cp850 => {
                oem_cp::encode_string_checked(text, &oem_cp::code_table::ENCODING_TABLE_CP850)
            }
        }
    }
}

/// Decodes `bytes` and explains them: UTF-8 or UTF-16 by their byte-order mark, else UTF-8 when
/// valid, else the first code page whose text matches one of Windows' texts in its languages,
/// else UTF-8 with invalid bytes replaced.
pub fn explain(bytes: &[u8], os: Option<Os>) -> (String, Explanation, Read) {
    let (text, read) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (utf16(rest, u16::from_le_bytes), Read::Utf16Le),
        [0xFE, 0xFF, rest @ ..] => (utf16(rest, u16::from_be_bytes), Read::Utf16Be),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            (String::from_utf8_lossy(rest).into_owned(), Read::Utf8Bom)
        }
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), Read::Utf8),
            Err(_) => {
                for cp in CODE_PAGES {
                    let Some(text) = cp.decode(bytes) else {
                        continue;
                    };
                    let answer = query::explain(&text, os);
                    let in_its_language = answer.matches.iter().any(|m| {
                        m.localized
                            .is_some_and(|l| cp.languages.contains(&l.language.tag))
                    });
                    if in_its_language {
                        return (text, answer, Read::CodePage(cp));
                    }
                }
                (String::from_utf8_lossy(bytes).into_owned(), Read::Utf8Lossy)
            }
        },
    };
    let answer = query::explain(&text, os);
    (text, answer, read)
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpmortem_core::localized;

    #[test]
    fn byte_order_marks_and_utf8() {
        let mut le = vec![0xFF, 0xFE];
        for u in "远程 reset".encode_utf16() {
            le.extend(u.to_le_bytes());
        }
        assert_eq!(explain(&le, None).0, "远程 reset");
        assert_eq!(explain(&le, None).2, Read::Utf16Le);
        let mut be = vec![0xFE, 0xFF];
        for u in "x".encode_utf16() {
            be.extend(u.to_be_bytes());
        }
        assert_eq!(explain(&be, None).0, "x");
        assert_eq!(explain(b"\xEF\xBB\xBFabc", None).0, "abc");
        assert_eq!(explain(b"a\xFFb", None).0, "a\u{FFFD}b");
        assert_eq!(explain(b"a\xFFb", None).2, Read::Utf8Lossy);
    }

    /// Every Windows text of every language, written in each code page its systems print in
    /// (when the code page can hold it), is read back in that code page and gives the same
    /// Winsock code as its UTF-8 form, inside a line of log as well as alone.
    #[test]
    fn every_localized_text_in_every_code_page_of_its_language() {
        let mut checked = 0;
        for t in &localized::table().texts {
            let text = t.text.replace("\\r\\n", "\r\n");
            for cp in CODE_PAGES
                .iter()
                .filter(|cp| cp.languages.contains(&t.language.tag))
            {
                let Some(bytes) = cp.encode(&text) else {
                    continue;
                };
                if std::str::from_utf8(&bytes).is_ok() {
                    continue; // pure ASCII: nothing to choose
                }
                let line = [b"2026-11-30 12:00:01 ERROR ".as_slice(), &bytes, b"\r\n"].concat();
                for input in [bytes.clone(), line] {
                    let (decoded, answer, read) = explain(&input, None);
                    let Read::CodePage(got) = read else {
                        panic!(
                            "{} {} in {}: read as {read:?}",
                            t.code, t.language.tag, cp.name
                        )
                    };
                    assert!(
                        got.languages.contains(&t.language.tag),
                        "{} {} in {}: read as {}: {decoded}",
                        t.code,
                        t.language.tag,
                        cp.name,
                        got.name
                    );
                    let utf8 = query::explain(&text, None);
                    let codes = |e: &Explanation| {
                        e.matches
                            .iter()
                            .filter_map(|m| m.localized.map(|l| l.code))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(
                        codes(&answer),
                        codes(&utf8),
                        "{} {} in {}",
                        t.code,
                        t.language.tag,
                        cp.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} encoded texts checked");
    }
}
