//! Conformance with Zeek on its own corpus (`tests/data/zeek/`, copied from Zeek's btests): every TCP row of every
//! baseline, paired by 4-tuple in order of appearance, compared on conn_state, history and,
//! where the baseline has them, packet and byte counts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tcpmortem_analyze::zeek::ConnRecord;
use tcpmortem_analyze::{Checksums, Options, Tracker};
use tcpmortem_wire::capture::Reader;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek")
}

struct Row {
    tuple: Option<(String, String, String, String)>,
    fields: HashMap<String, String>,
}

/// A conn.log's TCP rows, by its #fields header.
fn conn_log(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut names: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            names = f.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') && !line.is_empty() {
            let fields: HashMap<String, String> = names
                .iter()
                .cloned()
                .zip(line.split('\t').map(str::to_string))
                .collect();
            if fields.get("proto").map(String::as_str) == Some("tcp") {
                let g = |k: &str| fields[k].clone();
                rows.push(Row {
                    tuple: Some((
                        g("id.orig_h"),
                        g("id.orig_p"),
                        g("id.resp_h"),
                        g("id.resp_p"),
                    )),
                    fields,
                });
            }
        }
    }
    rows
}

/// Zeek fills `likely_server_ports` from the protocol scripts it loads. A bare-mode (`-b`)
/// btest loads only what its script names, so its ports are those scripts' ports; read from
/// each btest's `@load` lines.
fn likely_server_ports(baseline: &str, bare: bool) -> Vec<u16> {
    const HTTP: [u16; 8] = [80, 81, 631, 1080, 3128, 8000, 8080, 8888];
    match baseline.split('/').nth(1) {
        _ if !bare => tcpmortem_analyze::LIKELY_SERVER_PORTS.to_vec(),
        // @load base/protocols/conn, base/protocols/http
        Some("core.tcp.missing-syn") => HTTP.to_vec(),
        // @load base/protocols/pop3
        Some("scripts.base.protocols.pop3.basic") => vec![110],
        // @load base/protocols/conn only
        _ => Vec::new(),
    }
}

fn analyze(trace: &Path, opts: Options) -> Vec<ConnRecord> {
    let mut r = Reader::new(std::fs::File::open(trace).unwrap()).unwrap();
    let mut t = Tracker::new(opts);
    while let Some(p) = r.next_packet().unwrap() {
        t.frame(p.frame, p.ts_ns, p.linktype, p.data);
    }
    t.finish().into_iter().map(|c| c.zeek).collect()
}

fn ours(r: &ConnRecord, field: &str) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    match field {
        "conn_state" => r.conn_state.to_string(),
        "history" => {
            if r.history.is_empty() {
                "-".into()
            } else {
                r.history.clone()
            }
        }
        "orig_pkts" => r.orig_pkts.to_string(),
        "resp_pkts" => r.resp_pkts.to_string(),
        "orig_ip_bytes" => r.orig_ip_bytes.to_string(),
        "resp_ip_bytes" => r.resp_ip_bytes.to_string(),
        "orig_bytes" => opt(r.orig_bytes),
        "resp_bytes" => opt(r.resp_bytes),
        "missed_bytes" => r.missed_bytes.to_string(),
        // Zeek leaves a zero duration unset and prints others rounded to microseconds.
        "duration" if r.duration_ns > 0 => format!("{:.6}", r.duration_ns as f64 / 1e9),
        "duration" => "-".into(),
        _ => unreachable!(),
    }
}

const FIELDS: [&str; 10] = [
    "conn_state",
    "history",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "orig_bytes",
    "resp_bytes",
    "missed_bytes",
    "duration",
];

#[test]
fn conn_state_and_history_match_zeeks_baselines() {
    let manifest = std::fs::read_to_string(corpus().join("MANIFEST.tsv")).unwrap();
    let (mut rows_total, mut rows_ok, mut fields_total, mut fields_ok) = (0, 0, 0, 0);
    let mut diffs = Vec::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let trace = corpus().join("Traces").join(cols[0]);
        let flags: Vec<&str> = cols
            .get(2)
            .copied()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let recs = analyze(
            &trace,
            Options {
                // A baseline made without -C is Zeek verifying every checksum.
                checksums: if flags.contains(&"-C") {
                    Checksums::Ignore
                } else {
                    Checksums::Verify
                },
                likely_server_ports: likely_server_ports(cols[1], flags.contains(&"-b")),
                ..Options::default()
            },
        );
        let (base_file, line_no) = match cols[1].split_once(" line ") {
            Some((f, rest)) => (
                f,
                rest.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<usize>().ok()),
            ),
            None => (cols[1], None),
        };
        let base_path = corpus().join(base_file);
        let expected: Vec<Row> = match line_no {
            // The `out` form: "history, conn_state" on the given line, one connection.
            Some(n) => {
                let text = std::fs::read_to_string(&base_path).unwrap();
                let l = text.lines().nth(n - 1).unwrap();
                let (h, s) = l.split_once(", ").unwrap();
                vec![Row {
                    tuple: None,
                    fields: [
                        ("history".to_string(), h.to_string()),
                        ("conn_state".to_string(), s.to_string()),
                    ]
                    .into(),
                }]
            }
            None => conn_log(&base_path),
        };
        let mut used = vec![false; recs.len()];
        for row in &expected {
            rows_total += 1;
            let found = recs.iter().enumerate().position(|(i, r)| {
                !used[i]
                    && row.tuple.as_ref().is_none_or(|(oh, op, rh, rp)| {
                        r.orig.ip().to_string() == *oh
                            && r.orig.port().to_string() == *op
                            && r.resp.ip().to_string() == *rh
                            && r.resp.port().to_string() == *rp
                    })
            });
            let Some(i) = found else {
                diffs.push(format!("{}: no connection for {:?}", cols[0], row.tuple));
                continue;
            };
            used[i] = true;
            let mut row_ok = true;
            for f in FIELDS {
                let Some(want) = row.fields.get(f) else {
                    continue;
                };
                fields_total += 1;
                let got = ours(&recs[i], f);
                if &got == want {
                    fields_ok += 1;
                } else {
                    if f == "conn_state" || f == "history" {
                        row_ok = false;
                    }
                    diffs.push(format!(
                        "{} {:?}: {f} = {got}, Zeek {want}",
                        cols[0], row.tuple
                    ));
                }
            }
            rows_ok += usize::from(row_ok);
        }
    }
    println!(
        "Zeek conformance: {rows_ok}/{rows_total} TCP rows with the same conn_state and history; {fields_ok}/{fields_total} compared fields equal"
    );
    for d in &diffs {
        println!("  {d}");
    }
    // Every row and field matches; a difference is to be explained from Zeek's source,
    // never special-cased.
    assert_eq!(rows_total, 65, "the corpus's TCP rows");
    assert!(
        diffs.is_empty() && rows_ok == rows_total && fields_ok == fields_total,
        "conformance regressed"
    );
}
