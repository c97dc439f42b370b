//! A batch file's records: JSON Lines, or CSV as exports come (RFC 4180, a
//! header row; `,`, `;` or tab between cells, found from the header or
//! given). Each record keeps the line it starts on; a CSV cell left empty
//! is there, empty (not a missing column). Read in one pass: linear in the
//! file's size. Reads; sends nothing.

use serde_json::{Map, Value};

/// One record of the batch file: the line it starts on (from 1) and its
/// fields, or why it cannot be read.
pub(crate) struct Record {
    pub number: usize,
    pub fields: Result<Map<String, Value>, String>,
}

/// A batch file, read.
pub(crate) struct Table {
    /// The CSV header's column names (`None`: JSON Lines).
    pub columns: Option<Vec<String>>,
    pub records: Vec<Record>,
}

/// The delimiters a CSV export uses: Excel's `,` and, in much of Europe,
/// `;`; tab-separated files.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// `--csv-delimiter`'s value as a byte: one ASCII character, or `tab`.
pub(crate) fn delimiter(given: &str) -> Result<u8, String> {
    match given {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        one if one.len() == 1 && one.is_ascii() && !one.as_bytes()[0].is_ascii_alphanumeric() => {
            Ok(one.as_bytes()[0])
        }
        other => Err(format!(
            "--csv-delimiter takes one character (, ; | or tab), not {other:?}"
        )),
    }
}

/// The delimiter of a CSV file, from its header line: the one of `,` `;`
/// and tab that occurs most outside quotes (`,` when none does).
fn detect(bytes: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|d| *d == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        DELIMITERS[best]
    }
}

/// The records of `bytes`: CSV when `csv` (with `delimiter`, else the one
/// its header uses), else JSON Lines (a UTF-8 byte-order mark at the start
/// skipped either way; blank JSON lines skipped; LF or CRLF). `Err`: the
/// file as a whole cannot be read (its header), said once.
pub(crate) fn read(bytes: &[u8], csv: bool, delimiter: Option<u8>) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if csv {
        return csv_table(bytes, delimiter.unwrap_or_else(|| detect(bytes)));
    }
    let mut records = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.trim_ascii().is_empty() {
            continue;
        }
        let fields = std::str::from_utf8(raw)
            .map_err(|e| {
                format!(
                    "not valid UTF-8 (at byte {} of the line): nothing of it is sent",
                    e.valid_up_to() + 1
                )
            })
            .and_then(|raw| {
                match serde_json::from_str(raw).map_err(|e| format!("not a JSON object: {e}"))? {
                    Value::Object(object) => Ok(object),
                    _ => Err("not a JSON object".to_owned()),
                }
            });
        records.push(Record {
            number: i + 1,
            fields,
        });
    }
    Ok(Table {
        columns: None,
        records,
    })
}

/// Counts the lines up to a byte offset, moving forward only: one pass
/// over the file however many rows it has.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    /// Bytes looked at so far (each once: the unit test checks it).
    scanned: usize,
}

impl Lines<'_> {
    /// The line (from 1) the record at `byte` starts on. (After a CR, csv
    /// may place a record at the LF that ends its line.)
    fn at(&mut self, byte: u64) -> usize {
        let mut end = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        if end > self.at {
            self.line += memchr_count(&self.bytes[self.at..end]);
            self.scanned += end - self.at;
            self.at = end;
        }
        self.line
    }
}

fn memchr_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// CSV rows as records of their cells (empty ones included), keyed by the
/// header; a header with two columns of one name, or one that is not
/// UTF-8, is refused as a whole.
fn csv_table(bytes: &[u8], delimiter: u8) -> Result<Table, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let headers = reader
        .byte_headers()
        .map_err(|e| format!("the header row cannot be read: {e}"))?
        .clone();
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = String::from_utf8(h.to_vec())
            .map_err(|_| format!("column {} of the header is not valid UTF-8", i + 1))?;
        let name = name.trim().to_owned();
        if names.contains(&name) {
            return Err(format!(
                "the header has two columns named {name:?}: rename one, so that it is clear which a line takes"
            ));
        }
        names.push(name);
    }
    let mut lines = Lines {
        bytes,
        at: 0,
        line: 1,
        scanned: 0,
    };
    let mut records = Vec::new();
    for row in reader.byte_records() {
        let (number, fields) = match row {
            Err(e) => (
                lines.at(e.position().map_or(0, |p| p.byte())),
                Err(format!("not a CSV row: {e}")),
            ),
            Ok(row) => {
                let number = lines.at(row.position().map_or(0, |p| p.byte()));
                let fields = names
                    .iter()
                    .zip(row.iter())
                    .map(|(name, cell)| {
                        let cell = std::str::from_utf8(cell)
                            .map_err(|_| format!("column {name:?} is not valid UTF-8"))?;
                        Ok((name.clone(), Value::String(cell.to_owned())))
                    })
                    .collect::<Result<Map<_, _>, String>>();
                (number, fields)
            }
        };
        records.push(Record { number, fields });
    }
    debug_assert!(lines.scanned <= bytes.len());
    SCANNED.with(|s| s.set(lines.scanned));
    Ok(Table {
        columns: Some(names),
        records,
    })
}

thread_local! {
    /// The bytes the last CSV read's line numbering looked at (for the
    /// unit test).
    static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_rows(bytes: &[u8]) -> Vec<Record> {
        read(bytes, true, None).unwrap().records
    }

    #[test]
    fn csv_quotes_commas_and_line_breaks_and_a_header_only() {
        let csv = b"\xEF\xBB\xBFphone,name,note\r\n+13175551234,\"Smith, Ada\",\"two\nlines\"\r\n+13175555678,\"Say \"\"hi\"\"\",\r\n";
        let rows = csv_rows(csv);
        assert_eq!(rows.len(), 2);
        let first = rows[0].fields.as_ref().unwrap();
        assert_eq!(first["name"], "Smith, Ada");
        assert_eq!(first["note"], "two\nlines");
        assert_eq!(rows[0].number, 2);
        let second = rows[1].fields.as_ref().unwrap();
        assert_eq!(second["name"], "Say \"hi\"");
        assert_eq!(second["note"], "", "an empty cell is there, empty");
        assert_eq!(rows[1].number, 4, "the row after a quoted line break");
        assert!(read(b"phone,name\n", true, None)
            .unwrap()
            .records
            .is_empty());
        // LF, as CRLF: the line a row starts on.
        let numbers: Vec<usize> = super::read(b"phone,name\n+1,Ada\n+2,Lin\n", true, None)
            .unwrap()
            .records
            .iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(numbers, [2, 3]);
        // A row with more cells than the header: named by its line.
        let rows = csv_rows(b"a,b\n1,2\n1,2,3\n");
        assert!(rows[1].fields.is_err());
        assert_eq!(rows[1].number, 3);
    }

    #[test]
    fn rows_are_numbered_in_one_pass() {
        let mut csv = String::from("phone,name\n");
        for i in 0..20_000 {
            csv.push_str(&format!("+1317555{i:04},\"Customer\n{i}\"\r\n"));
        }
        let table = read(csv.as_bytes(), true, None).unwrap();
        assert_eq!(table.records.len(), 20_000);
        assert_eq!(table.records[19_999].number, 2 + 2 * 19_999);
        // Each byte looked at once at most: linear, however many rows.
        assert!(SCANNED.with(|s| s.get()) <= csv.len());
    }

    #[test]
    fn the_delimiter_is_the_exports_and_two_columns_of_one_name_are_refused() {
        for (file, delimiter) in [
            (&b"phone;name\n+1;\"Ada; Lin\"\n"[..], None),
            (b"phone\tname\n+1\tAda; Lin\n", None),
            (b"phone|name\n+1|Ada; Lin\n", Some(b'|')),
        ] {
            let table = read(file, true, delimiter).unwrap();
            assert_eq!(table.columns.as_deref().unwrap(), ["phone", "name"]);
            assert_eq!(
                table.records[0].fields.as_ref().unwrap()["name"],
                "Ada; Lin"
            );
        }
        // A comma inside quotes is no delimiter.
        assert_eq!(detect(b"\"a,b\";c;d\n"), b';');
        let twice = read(b"phone,name,phone\n1,2,3\n", true, None)
            .err()
            .unwrap();
        assert!(twice.contains("two columns named \"phone\""), "{twice}");
        assert_eq!(delimiter("tab").unwrap(), b'\t');
        assert!(delimiter("ab").is_err() && delimiter("x").is_err());
    }
}
