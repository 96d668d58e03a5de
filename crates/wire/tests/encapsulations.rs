//! Every link layer and tunnel `dissect` decodes, on a frame assembled by hand here (the Zeek
//! corpus has no trace of most of them): the dissector must find the inner TCP segment, and
//! tshark, reading the same frame from a pcap, must decode the same segment. Also the two
//! capture formats only old tools write, checked the same way.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use tcpmortem_wire::TcpSegment;
use tcpmortem_wire::capture::Reader;
use tcpmortem_wire::dissect::{Checks, Dissector};
use tcpmortem_wire::link::linktype;
use tcpmortem_wire::skip::{Encap, Skip};

const C4: [u8; 4] = [198, 18, 0, 1];
const S4: [u8; 4] = [198, 18, 0, 6];
const C6: [u8; 16] = [0x20, 1, 0xdb, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const S6: [u8; 16] = [0x20, 1, 0xdb, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6];

/// An IPv4 or IPv6 SYN from port 40000 to 8080, checksums right.
fn tcp(v6: bool) -> Vec<u8> {
    let b = if v6 {
        etherparse::PacketBuilder::ipv6(C6, S6, 64)
    } else {
        etherparse::PacketBuilder::ipv4(C4, S4, 64)
    };
    let mut out = Vec::new();
    b.tcp(40000, 8080, 1000, 512)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

/// An outer IPv4 packet (203.0.113.1 > 203.0.113.2) of protocol `proto` around `payload`.
fn outer_v4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2,
    ];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    tcpmortem_wire::checksum::ipv4_header_fill(&mut h);
    h.extend_from_slice(payload);
    h
}

/// An outer IPv6 packet of next header `next` around `payload`.
fn outer_v6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, next, 64];
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend([0x20, 1, 0xdb, 8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend([0x20, 1, 0xdb, 8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(payload);
    h
}

/// A UDP datagram (checksum 0: none, allowed over IPv4) in outer IPv4.
fn udp_v4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend_from_slice(payload);
    outer_v4(17, &u)
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend(ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An 802.11 data frame (to the DS) carrying `ip` behind LLC/SNAP.
fn wlan(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x08, 0x01, 0, 0];
    f.extend([
        0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0c,
    ]);
    f.extend([0x10, 0]);
    f.extend([0xAA, 0xAA, 0x03, 0, 0, 0]);
    f.extend(ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn pcap(lt: u16, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend(65535u32.to_le_bytes());
    b.extend(u32::from(lt).to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        b.extend((1_700_000_000 + i as u32).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    b
}

/// A folder for one test's files, removed when the test ends (also when it fails).
struct Tmp(PathBuf);

impl Tmp {
    fn new(test: &str) -> Tmp {
        let dir = std::env::temp_dir().join(format!("tcpm-encap-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The innermost TCP 4-tuple of each frame tshark decodes as TCP.
/// A TCP segment's (source address, port, destination address, port).
type Tuple = (String, u16, String, u16);

fn tshark(path: &Path, extra: &[&str]) -> Vec<Tuple> {
    let out = Command::new("tshark")
        .args(extra)
        .args(["-r", path.to_str().unwrap(), "-Y", "tcp", "-T", "fields"])
        .args(["-E", "occurrence=l", "-e", "ip.src", "-e", "ipv6.src"])
        .args(["-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e"])
        .args(["tcp.dstport", "-e", "frame.protocols"])
        .output()
        .expect("tshark is installed by scripts/test");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            // The innermost IP is the version TCP rode on: the last in frame.protocols.
            let v6 = f[6].rfind(":ipv6").unwrap_or(0) > f[6].rfind(":ip:").unwrap_or(0);
            let (src, dst) = if v6 { (f[1], f[4]) } else { (f[0], f[3]) };
            (
                src.to_string(),
                f[2].parse().unwrap(),
                dst.to_string(),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

fn ours(lt: u16, frames: &[Vec<u8>]) -> (Vec<Tuple>, Vec<Result<(), Skip>>) {
    let mut d = Dissector::new(Checks::Verify);
    let mut segs = Vec::new();
    let mut results = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let r = d.frame(i as i128, lt, f.len() as u64, f, &mut |ip| {
            if let Some(s) = TcpSegment::from_ip(ip) {
                segs.push((
                    s.src.ip().to_string(),
                    s.src.port(),
                    s.dst.ip().to_string(),
                    s.dst.port(),
                ));
            }
        });
        results.push(r);
    }
    (segs, results)
}

fn expect(v6: bool) -> Tuple {
    let (c, s) = if v6 {
        (IpAddr::from(C6), IpAddr::from(S6))
    } else {
        (IpAddr::from(C4), IpAddr::from(S4))
    };
    (c.to_string(), 40000, s.to_string(), 8080)
}

/// One fixture: name, link type, frames, whether the inner TCP is IPv6, tshark options.
type Case = (&'static str, u16, Vec<Vec<u8>>, bool, Vec<&'static str>);

fn cases() -> Vec<Case> {
    let v4 = tcp(false);
    let v6 = tcp(true);
    let mut out = Vec::new();
    // FDDI: frame control, two addresses, then LLC/SNAP.
    let mut fddi = vec![0x50];
    fddi.extend([0u8; 12]);
    fddi.extend([0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
    fddi.extend(&v4);
    out.push(("fddi", linktype::FDDI, vec![fddi], false, vec![]));
    // 802.3 with LLC/SNAP.
    let mut snap = vec![0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend(&v4);
    out.push((
        "llc-snap",
        1,
        vec![eth(snap.len() as u16, &snap)],
        false,
        vec![],
    ));
    // PPP in HDLC-like framing, and bare.
    let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
    ppp.extend(&v4);
    let mut ppp6 = vec![0x00, 0x57];
    ppp6.extend(&v6);
    out.push(("ppp", linktype::PPP, vec![ppp], false, vec![]));
    out.push(("ppp-bare", linktype::PPP, vec![ppp6], true, vec![]));
    // PPPoE session inside QinQ.
    let mut pppoe = vec![0, 10, 0x81, 0x00, 0, 20, 0x88, 0x64, 0x11, 0, 0, 1];
    pppoe.extend(((v4.len() + 2) as u16).to_be_bytes());
    pppoe.extend([0x00, 0x21]);
    pppoe.extend(&v4);
    out.push(("pppoe-qinq", 1, vec![eth(0x88A8, &pppoe)], false, vec![]));
    // PBB: the I-TAG, then the customer's Ethernet frame.
    let mut pbb = vec![0, 0, 0, 7];
    pbb.extend(eth(0x0800, &v4));
    out.push(("pbb", 1, vec![eth(0x88E7, &pbb)], false, vec![]));
    // VN-Tag, then an 802.1Q tag (Zeek's VN-Tag table has only VLAN types).
    let mut vntag = vec![0x80, 0x01, 0x00, 0x02, 0x81, 0x00, 0, 5, 0x08, 0x00];
    vntag.extend(&v4);
    out.push(("vntag", 1, vec![eth(0x8926, &vntag)], false, vec![]));
    // Cisco FabricPath: outer addresses, 0x8903 and its tag, then the inner frame.
    let mut cfp = vec![2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 0x89, 0x03, 0, 0x3f];
    cfp.extend(eth(0x0800, &v4));
    out.push(("fabricpath", 1, vec![cfp], false, vec![]));
    // NFLOG: AF_INET, version 0, resource id; a prefix TLV (padded), then the payload TLV.
    let mut nflog = vec![2, 0, 0, 1];
    nflog.extend(7u16.to_le_bytes());
    nflog.extend(10u16.to_le_bytes());
    nflog.extend([b'x', b'\0', 0, 0]);
    nflog.extend(((4 + v4.len()) as u16).to_le_bytes());
    nflog.extend(9u16.to_le_bytes());
    nflog.extend(&v4);
    out.push(("nflog", linktype::NFLOG, vec![nflog], false, vec![]));
    // 802.11 data with LLC/SNAP.
    out.push((
        "ieee802.11",
        linktype::IEEE802_11,
        vec![wlan(0x86DD, &v6)],
        true,
        vec![],
    ));
    // PPP serial (Cisco HDLC framing: address, control, protocol).
    let mut serial = vec![0xff, 0x03, 0x00, 0x21];
    serial.extend(&v4);
    out.push((
        "ppp-serial",
        linktype::PPP_SERIAL,
        vec![serial],
        false,
        vec![],
    ));
    // Radiotap: an 8-byte header with no fields present, then the 802.11 frame.
    let mut radiotap = vec![0, 0, 8, 0, 0, 0, 0, 0];
    radiotap.extend(wlan(0x0800, &v4));
    out.push((
        "radiotap",
        linktype::IEEE802_11_RADIOTAP,
        vec![radiotap],
        false,
        vec![],
    ));
    // GRE: plain IPv4 with key and sequence, bridged Ethernet, ERSPAN II and III, over UDP.
    let mut gre = vec![0x30, 0, 0x08, 0x00, 0, 0, 0, 9, 0, 0, 0, 1];
    gre.extend(&v4);
    out.push((
        "gre",
        1,
        vec![eth(0x0800, &outer_v4(47, &gre))],
        false,
        vec![],
    ));
    let mut teb = vec![0, 0, 0x65, 0x58];
    teb.extend(eth(0x86DD, &v6));
    out.push((
        "gre-teb",
        1,
        vec![eth(0x0800, &outer_v4(47, &teb))],
        true,
        vec![],
    ));
    let mut erspan2 = vec![0x10, 0, 0x88, 0xBE, 0, 0, 0, 1];
    erspan2.extend([0x10, 0x01, 0, 0x05, 0, 0, 0, 0]);
    erspan2.extend(eth(0x0800, &v4));
    out.push((
        "erspan-ii",
        1,
        vec![eth(0x0800, &outer_v4(47, &erspan2))],
        false,
        vec![],
    ));
    // ERSPAN type I: GRE 0x88BE without a sequence number, and no ERSPAN header.
    let mut erspan1 = vec![0, 0, 0x88, 0xBE];
    erspan1.extend(eth(0x0800, &v4));
    out.push((
        "erspan-i",
        1,
        vec![eth(0x0800, &outer_v4(47, &erspan1))],
        false,
        vec![],
    ));
    // PPTP: enhanced GRE (version 1, key present) carrying PPP with IPv4.
    let mut pptp = vec![0x20, 0x01, 0x88, 0x0B];
    pptp.extend(((v4.len() + 4) as u16).to_be_bytes());
    pptp.extend([0, 7, 0xff, 0x03, 0x00, 0x21]);
    pptp.extend(&v4);
    out.push((
        "gre-pptp",
        1,
        vec![eth(0x0800, &outer_v4(47, &pptp))],
        false,
        vec![],
    ));
    let mut erspan3 = vec![0x10, 0, 0x22, 0xEB, 0, 0, 0, 1];
    erspan3.extend([0x20, 0x01, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0]);
    erspan3.extend(eth(0x0800, &v4));
    out.push((
        "erspan-iii",
        1,
        vec![eth(0x0800, &outer_v4(47, &erspan3))],
        false,
        vec![],
    ));
    let mut gre_udp = vec![0, 0, 0x08, 0x00];
    gre_udp.extend(&v4);
    out.push((
        "gre-in-udp",
        1,
        vec![eth(0x0800, &udp_v4(50000, 4754, &gre_udp))],
        false,
        vec![],
    ));
    // Aruba: GRE type 0x8200 carries an 802.11 frame.
    let mut aruba = vec![0, 0, 0x82, 0x00];
    aruba.extend(wlan(0x0800, &v4));
    out.push((
        "gre-aruba",
        1,
        vec![eth(0x0800, &outer_v4(47, &aruba))],
        false,
        vec![],
    ));
    // IP in IP, each way.
    out.push((
        "4in4",
        1,
        vec![eth(0x0800, &outer_v4(4, &v4))],
        false,
        vec![],
    ));
    out.push((
        "6in4",
        1,
        vec![eth(0x0800, &outer_v4(41, &v6))],
        true,
        vec![],
    ));
    out.push((
        "4in6",
        1,
        vec![eth(0x86DD, &outer_v6(4, &v4))],
        false,
        vec![],
    ));
    out.push((
        "6in6",
        1,
        vec![eth(0x86DD, &outer_v6(41, &v6))],
        true,
        vec![],
    ));
    // VXLAN, and Geneve with 8 bytes of options.
    let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vxlan.extend(eth(0x0800, &v4));
    out.push((
        "vxlan",
        1,
        vec![eth(0x0800, &udp_v4(50000, 4789, &vxlan))],
        false,
        vec![],
    ));
    let mut geneve = vec![0x02, 0, 0x65, 0x58, 0, 0, 42, 0];
    geneve.extend([0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    geneve.extend(eth(0x0800, &v4));
    out.push((
        "geneve",
        1,
        vec![eth(0x0800, &udp_v4(50000, 6081, &geneve))],
        false,
        vec![],
    ));
    // GTPv1-U with the sequence field and one extension header (0x32, PDU session).
    let mut gtp = vec![0x36, 255, 0, 0, 0, 0, 0, 7, 0, 1, 0, 0x85];
    gtp.extend([1, 0x10, 0x01, 0]);
    let n = (gtp.len() - 8 + v4.len()) as u16;
    gtp[2..4].copy_from_slice(&n.to_be_bytes());
    gtp.extend(&v4);
    out.push((
        "gtpv1",
        1,
        vec![eth(0x0800, &udp_v4(2152, 2152, &gtp))],
        false,
        vec![],
    ));
    // Teredo with an origin indication.
    let mut teredo = vec![0, 0, 0xf1, 0x2a, 0xb9, 0xc8, 0x28, 0x15];
    teredo.extend(&v6);
    out.push((
        "teredo",
        1,
        vec![eth(0x0800, &udp_v4(50000, 3544, &teredo))],
        true,
        vec![],
    ));
    // AYIYA: a 16-byte identity, a 20-byte signature, "forward", IPv6 next.
    let mut ayiya = vec![0x41, 0x52, 0x11, 41, 0, 0, 0, 0];
    ayiya.extend([0u8; 36]);
    ayiya.extend(&v6);
    out.push((
        "ayiya",
        1,
        vec![eth(0x0800, &udp_v4(50000, 5072, &ayiya))],
        true,
        vec![],
    ));
    out
}

#[test]
fn every_encapsulation_gives_the_segment_tshark_finds() {
    let tmp = Tmp::new("all");
    let mut failed = Vec::new();
    for (name, lt, frames, v6, opts) in cases() {
        let (segs, results) = ours(lt, &frames);
        let want = vec![expect(v6)];
        let path = tmp.write(&format!("{name}.pcap"), &pcap(lt, &frames));
        let theirs = tshark(&path, &opts);
        if segs != want || theirs != want {
            failed.push(format!(
                "{name}: ours {segs:?} ({results:?}), tshark {theirs:?}, want {want:?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn gtp_outer_fragments_are_reassembled_before_the_tunnel() {
    let v4 = tcp(false);
    let mut gtp = vec![0x30, 255, 0, 0, 0, 0, 0, 7];
    gtp[2..4].copy_from_slice(&(v4.len() as u16).to_be_bytes());
    gtp.extend(&v4);
    let whole = udp_v4(2152, 2152, &gtp);
    // Two fragments: 24 bytes, then the rest.
    let body = &whole[20..];
    let mut frames = Vec::new();
    for (off, chunk, more) in [(0, &body[..24], true), (24, &body[24..], false)] {
        let mut h = whole[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
        h[6..8].copy_from_slice(&((u16::from(more) << 13) | (off / 8) as u16).to_be_bytes());
        tcpmortem_wire::checksum::ipv4_header_fill(&mut h);
        h.extend_from_slice(chunk);
        frames.push(eth(0x0800, &h));
    }
    let (segs, results) = ours(1, &frames);
    assert_eq!(segs, [expect(false)]);
    assert_eq!(results[0], Err(Skip::Fragment));
    let tmp = Tmp::new("gtp");
    let path = tmp.write("gtp-fragments.pcap", &pcap(1, &frames));
    assert_eq!(tshark(&path, &[]), [expect(false)]);
}

#[test]
fn what_zeek_refuses_is_refused() {
    let v4 = tcp(false);
    // A bad IPv4 header checksum: dropped at the IP layer, before TCP.
    let mut bad = v4.clone();
    bad[10] ^= 0xff;
    assert_eq!(
        ours(linktype::RAW, &[bad.clone()]).1[0],
        Err(Skip::IpChecksum)
    );
    let mut lax = Dissector::new(Checks::Ignore);
    assert_eq!(
        lax.frame(0, linktype::RAW, u64::MAX, &bad, &mut |_| {}),
        Ok(())
    );
    // A wire length shorter than the IP header claims (Zeek's truncated_IP_len).
    let mut d = Dissector::new(Checks::Verify);
    assert_eq!(
        d.frame(0, linktype::RAW, 39, &v4, &mut |_| {}),
        Err(Skip::TooShort)
    );
    // Geneve's table names IPv6 0x08DD, not 0x86DD: IPv6 in Geneve is not decoded.
    let mut geneve = vec![0, 0, 0x86, 0xDD, 0, 0, 42, 0];
    geneve.extend(tcp(true));
    let f = eth(0x0800, &udp_v4(50000, 6081, &geneve));
    assert_eq!(ours(1, &[f]).1[0], Err(Skip::Encapsulation(Encap::Geneve)));
    // A VXLAN header without the I flag is a violation: that flow is given up, so a good
    // packet after it is not decapsulated either.
    let mut good = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    good.extend(eth(0x0800, &v4));
    let mut flagless = good.clone();
    flagless[0] = 0;
    let frames = [
        eth(0x0800, &udp_v4(50000, 4789, &flagless)),
        eth(0x0800, &udp_v4(50000, 4789, &good)),
    ];
    let (segs, results) = ours(1, &frames);
    assert!(segs.is_empty(), "{segs:?}");
    assert_eq!(results[1], Err(Skip::Encapsulation(Encap::Vxlan)));
    // Tunnels nest two deep at most (Tunnel::max_depth): 4in4 in 4in4 in 4in4 is not read.
    let three = outer_v4(4, &outer_v4(4, &outer_v4(4, &v4)));
    assert_eq!(
        ours(linktype::RAW, &[three]).1[0],
        Err(Skip::TunnelDepth(Encap::IpInIp))
    );
    let two = outer_v4(4, &outer_v4(4, &v4));
    assert_eq!(ours(linktype::RAW, &[two]).0, [expect(false)]);
}

/// A tunnel's own messages carry no packet and so cannot hide TCP: they are not "inside a
/// tunnel not decoded". A zeroed IPv4 length (TSO) is dropped as Zeek drops it without -C,
/// and read as -C reads it when `auto` finds its header checksum left to the NIC too.
#[test]
fn tunnel_messages_and_zeroed_ipv4_lengths_are_skipped_for_what_they_are() {
    // An AYIYA heartbeat (opcode 0, no next header), from ayiya3.pcap's layout.
    let mut heartbeat = vec![0x41, 0x52, 0x10, 59, 0, 0, 0, 0];
    heartbeat.extend([0u8; 16 + 20]);
    let f = eth(0x0800, &udp_v4(53859, 5072, &heartbeat));
    assert_eq!(ours(1, &[f]).1[0], Err(Skip::NoPacket(Encap::Ayiya)));
    // A GTPv1-U echo request (type 1) with its sequence number.
    let echo = [0x32, 1, 0, 4, 0, 0, 0, 0, 0, 7, 0, 0];
    let f = eth(0x0800, &udp_v4(2152, 2152, &echo));
    assert_eq!(ours(1, &[f]).1[0], Err(Skip::NoPacket(Encap::Gtp)));
    // A VXLAN header and nothing after it.
    let f = eth(0x0800, &udp_v4(50000, 4789, &[0x08, 0, 0, 0, 0, 0, 42, 0]));
    assert_eq!(ours(1, &[f]).1[0], Err(Skip::NoPacket(Encap::Vxlan)));
    assert!(!Skip::NoPacket(Encap::Ayiya).may_hide_tcp());
    // A 1,848-byte segment whose IPv4 length and header checksum the sender left zero, as in
    // ldap/missing_ldap_logs.pcapng.
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4(C4, S4, 64)
        .tcp(40000, 389, 1000, 512)
        .ack(1)
        .write(&mut ip, &[0x30; 1808])
        .unwrap();
    ip[2..4].copy_from_slice(&[0, 0]);
    ip[10..12].copy_from_slice(&[0, 0]);
    let frame = eth(0x0800, &ip);
    let read = |checks: Checks, frame: &[u8]| {
        let mut d = Dissector::new(checks);
        let mut got = None;
        let r = d.frame(0, 1, frame.len() as u64, frame, &mut |p| {
            got = TcpSegment::from_ip(p).map(|s| s.payload_len);
        });
        (r, got, d.offloaded())
    };
    assert_eq!(
        read(Checks::Verify, &frame),
        (Err(Skip::IpLengthZero), None, 0)
    );
    assert_eq!(read(Checks::Auto, &frame), (Ok(()), Some(1808), 1));
    assert_eq!(read(Checks::Ignore, &frame), (Ok(()), Some(1808), 0));
    // With a checksum that is neither right nor left to the NIC, `auto` drops it too.
    let mut wrong = frame.clone();
    wrong[14 + 10] = 0x12;
    assert_eq!(
        read(Checks::Auto, &wrong),
        (Err(Skip::IpLengthZero), None, 0)
    );
}

#[test]
fn a_teredo_bubble_with_payload_does_not_end_the_tunnel() {
    // A bubble (no next header, no payload) followed by bytes, then a real packet, on a port
    // Teredo is found on by detection.
    let mut bubble = vec![0x60, 0, 0, 0, 0, 0, 59, 21];
    bubble.extend([0x20, 1, 0, 0, 0x41, 0x37, 0x9e, 0x50, 0x80, 0, 0xf1, 0x2a]);
    bubble.extend([0xb9, 0xc8, 0x28, 0x15]);
    bubble.extend(S6);
    bubble.extend([0xde, 0xad]);
    let frames = [
        eth(0x0800, &udp_v4(50000, 32900, &bubble)),
        eth(0x0800, &udp_v4(50000, 32900, &tcp(true))),
    ];
    let (segs, results) = ours(1, &frames);
    assert_eq!(results[0], Err(Skip::NotTcp));
    // The second packet's addresses are not Teredo's, so detection does not find it: only
    // a flow on Teredo's port, or one whose packets look like Teredo, is decapsulated.
    assert!(segs.is_empty());
    let frames = [
        eth(0x0800, &udp_v4(50000, 3544, &bubble)),
        eth(0x0800, &udp_v4(50000, 3544, &tcp(true))),
    ];
    assert_eq!(ours(1, &frames).0, [expect(true)]);
}

#[test]
fn segments_longer_than_the_mtu_keep_their_length() {
    // A 64 KiB loopback segment (IP length 65535), as GRO and lo captures hold them.
    let payload = vec![0x5a; 65535 - 40];
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4(C4, S4, 64)
        .tcp(40000, 8080, 1000, 512)
        .ack(1)
        .write(&mut ip, &payload)
        .unwrap();
    let mut lo = 2u32.to_le_bytes().to_vec();
    lo.extend(&ip);
    let mut got = None;
    let mut d = Dissector::new(Checks::Verify);
    d.frame(0, linktype::NULL, lo.len() as u64, &lo, &mut |p| {
        got = TcpSegment::from_ip(p);
    })
    .unwrap();
    let s = got.unwrap();
    assert_eq!((s.payload_len, s.captured, s.ip_len), (65495, 65495, 65535));
    // The same through the reader: a 64 KiB record is no corrupt length.
    let tmp = Tmp::new("lo");
    let path = tmp.write("lo.pcap", &pcap(linktype::NULL, &[lo]));
    let mut r = Reader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(r.next_packet().unwrap().unwrap().data.len(), 65539);
}

#[test]
fn old_formats_read_as_tshark_reads_them() {
    let frames = [eth(0x0800, &tcp(false)), eth(0x86DD, &tcp(true))];
    // Kuznetzov's modified pcap, written by editcap from a plain one.
    let tmp = Tmp::new("formats");
    let plain = tmp.write("plain.pcap", &pcap(1, &frames));
    let modified = plain.with_file_name("modified.pcap");
    let st = Command::new("editcap")
        .args([
            "-F",
            "modpcap",
            plain.to_str().unwrap(),
            modified.to_str().unwrap(),
        ])
        .status()
        .expect("editcap comes with tshark");
    assert!(st.success());
    let bytes = std::fs::read(&modified).unwrap();
    assert_eq!(bytes[..4], [0x34, 0xcd, 0xb2, 0xa1]);
    let read = |p: &Path| {
        let mut r = Reader::new(std::fs::File::open(p).unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            out.push((p.ts_ns, p.orig_len, p.data.to_vec()));
        }
        out
    };
    assert_eq!(read(&modified), read(&plain));
    assert_eq!(tshark(&modified, &[]), [expect(false), expect(true)]);
    // The obsolete pcapng Packet Block (type 2): 16-bit interface id and drop count.
    let mut ng = Vec::new();
    let block = |ty: u32, body: &[u8]| {
        let mut b = ty.to_le_bytes().to_vec();
        let total = (12 + body.len()) as u32;
        b.extend(total.to_le_bytes());
        b.extend_from_slice(body);
        b.extend(total.to_le_bytes());
        b
    };
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend([1, 0, 0, 0]);
    shb.extend((-1i64).to_le_bytes());
    ng.extend(block(0x0A0D_0D0A, &shb));
    ng.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
    for (i, f) in frames.iter().enumerate() {
        let mut pb = vec![0, 0, 3, 0];
        let ts = 1_700_000_000_000_000u64 + i as u64;
        pb.extend(((ts >> 32) as u32).to_le_bytes());
        pb.extend((ts as u32).to_le_bytes());
        pb.extend((f.len() as u32).to_le_bytes());
        pb.extend((f.len() as u32).to_le_bytes());
        pb.extend_from_slice(f);
        pb.extend(std::iter::repeat_n(0, (4 - f.len() % 4) % 4));
        ng.extend(block(2, &pb));
    }
    let path = tmp.write("packet-block.pcapng", &ng);
    let got = read(&path);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0, 1_700_000_000_000_001_000);
    assert_eq!(got[0].2, frames[0]);
    assert_eq!(tshark(&path, &[]), [expect(false), expect(true)]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// Every fixture above with random bytes overwritten and cut short: the dissector never
    /// panics, and only frames that carry TCP give segments.
    #[test]
    fn mutated_encapsulations_never_panic(
        pick in proptest::prelude::any::<proptest::sample::Index>(),
        flips in proptest::collection::vec(
            (proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()),
            0..16,
        ),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let all = cases();
        let (_, lt, frames, _, _) = pick.get(&all);
        let mut f = frames[0].clone();
        for (at, v) in flips {
            let i = at.index(f.len());
            f[i] = v;
        }
        let n = cut.index(f.len() + 1);
        let mut d = Dissector::new(Checks::Verify);
        for wire in [n as u64, u64::MAX] {
            let _ = d.frame(0, *lt, wire, &f[..n], &mut |ip| {
                let _ = TcpSegment::from_ip(ip);
            });
        }
        proptest::prop_assert!(d.flows() <= 2);
    }
}
