//! DNS (RFC 1035) in tcpdump's one-line form, for UDP and TCP port 53 and mDNS (5353).

use core::fmt::Write;

use super::{Ctx, R, be16_at, be32_at, print_char, u8_at};

/// Names of RR types as tcpdump 4.99 knows them (others print as `TypeN`).
fn type_name(t: u16) -> String {
    const LOW: [&str; 48] = [
        "A", "NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR", "NULL", "WKS", "PTR", "HINFO",
        "MINFO", "MX", "TXT", "RP", "AFSDB", "X25", "ISDN", "RT", "NSAP", "NSAP_PTR", "SIG", "KEY",
        "PX", "GPOS", "AAAA", "LOC", "NXT", "EID", "NIMLOC", "SRV", "ATMA", "NAPTR", "KX", "CERT",
        "A6", "DNAME", "SINK", "OPT", "APL", "DS", "SSHFP", "IPSECKEY", "RRSIG", "NSEC", "DNSKEY",
    ];
    let s = match t {
        1..=48 => LOW[usize::from(t) - 1],
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "UNSPECA",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return format!("Type{t}"),
    };
    s.to_string()
}

fn class_name(c: u16) -> String {
    match c {
        1 => "IN".to_string(),
        3 => "CHAOS".to_string(),
        4 => "HS".to_string(),
        255 => "ANY".to_string(),
        _ => format!("(Class {c})"),
    }
}

const MAXCDNAME: usize = 255;

/// A DNS message being printed: its bytes (to the end of the capture).
struct Msg<'a> {
    b: &'a [u8],
}

impl Msg<'_> {
    fn has(&self, at: usize, n: usize) -> bool {
        at.checked_add(n).is_some_and(|e| e <= self.b.len())
    }

    /// tcpdump's `ns_nskip`: the offset after a name, `None` when malformed or cut.
    fn nskip(&self, mut cp: usize) -> R<Option<usize>> {
        if !self.has(cp, 1) {
            return Ok(None);
        }
        let mut i = u8_at(self.b, cp)?;
        cp += 1;
        while i != 0 {
            match i & 0xc0 {
                0xc0 => return Ok(Some(cp + 1)),
                0x40 => {
                    if i & 0x3f != 1 || !self.has(cp, 1) {
                        return Ok(None);
                    }
                    let mut bitlen = usize::from(u8_at(self.b, cp)?);
                    if bitlen == 0 {
                        bitlen = 256;
                    }
                    cp += 1 + bitlen.div_ceil(8);
                }
                0x80 => return Ok(None),
                _ => cp += usize::from(i),
            }
            if !self.has(cp, 1) {
                return Ok(None);
            }
            i = u8_at(self.b, cp)?;
            cp += 1;
        }
        Ok(Some(cp))
    }

    /// tcpdump's `labellen`.
    fn labellen(&self, cx: &mut Ctx<'_>, cp: usize) -> R<Option<usize>> {
        if !self.has(cp, 1) {
            return Ok(None);
        }
        let i = u8_at(self.b, cp)?;
        match i & 0xc0 {
            0x40 => {
                let elt = i & 0x3f;
                if elt != 1 {
                    let _ = write!(cx.out, "<ELT {elt}>");
                    return Ok(None);
                }
                if !self.has(cp + 1, 1) {
                    return Ok(None);
                }
                let mut bitlen = usize::from(u8_at(self.b, cp + 1)?);
                if bitlen == 0 {
                    bitlen = 256;
                }
                Ok(Some(bitlen.div_ceil(8) + 1))
            }
            0x80 => {
                cx.p("<BAD LABEL TYPE>");
                Ok(None)
            }
            _ => Ok(Some(usize::from(i))),
        }
    }

    /// tcpdump's `nd_printn`: `false` when the capture ends first.
    fn printn(&self, cx: &mut Ctx<'_>, cp: usize, n: usize) -> R<bool> {
        for k in 0..n {
            if cp + k >= self.b.len() {
                return Ok(false);
            }
            print_char(&mut cx.out, u8_at(self.b, cp + k)?);
        }
        Ok(true)
    }

    /// tcpdump's `fqdn_print` (RFC 1035 §4.1.4 compression): the offset after the name
    /// as it sits in the record, `None` when it cannot be printed.
    fn fqdn(&self, cx: &mut Ctx<'_>, mut cp: usize) -> R<Option<usize>> {
        let Some(mut l) = self.labellen(cx, cp)? else {
            return Ok(None);
        };
        if !self.has(cp, 1) {
            return Ok(None);
        }
        let mut max_offset = cp;
        let mut i = u8_at(self.b, cp)?;
        cp += 1;
        let mut compress = false;
        let mut rp = 0usize;
        if i & 0xc0 != 0xc0 {
            rp = cp + l;
        }
        if i == 0 {
            cx.p(".");
            return Ok(Some(rp));
        }
        let mut name_chars = 0usize;
        while i != 0 && cp < self.b.len() {
            match i & 0xc0 {
                0xc0 => {
                    if !compress {
                        rp = cp + 1;
                        compress = true;
                    }
                    if !self.has(cp, 1) {
                        return Ok(None);
                    }
                    let offset = ((usize::from(i) << 8) | usize::from(u8_at(self.b, cp)?)) & 0x3fff;
                    // Pointers must go backwards, as BIND requires (no loops).
                    if offset >= max_offset {
                        cx.p("<BAD PTR>");
                        return Ok(None);
                    }
                    max_offset = offset;
                    cp = offset;
                    if !self.has(cp, 1) {
                        return Ok(None);
                    }
                    i = u8_at(self.b, cp)?;
                    let Some(nl) = self.labellen(cx, cp)? else {
                        return Ok(None);
                    };
                    l = nl;
                    cp += 1;
                    continue;
                }
                0x40 => {
                    // Bit-string labels (RFC 2673, historic) are not printed.
                    let _ = write!(cx.out, "<ELT {}>", i & 0x3f);
                    return Ok(None);
                }
                0x80 => {
                    cx.p("<BAD LABEL TYPE>");
                    return Ok(None);
                }
                _ => {
                    if name_chars + l <= MAXCDNAME {
                        if !self.printn(cx, cp, l)? {
                            return Ok(None);
                        }
                    } else if name_chars < MAXCDNAME
                        && !self.printn(cx, cp, MAXCDNAME - name_chars)?
                    {
                        return Ok(None);
                    }
                    name_chars += l;
                }
            }
            cp += l;
            if name_chars <= MAXCDNAME {
                cx.p(".");
            }
            name_chars += 1;
            if !self.has(cp, 1) {
                return Ok(None);
            }
            i = u8_at(self.b, cp)?;
            let Some(nl) = self.labellen(cx, cp)? else {
                return Ok(None);
            };
            l = nl;
            cp += 1;
            if !compress {
                rp += l + 1;
            }
        }
        if name_chars > MAXCDNAME {
            cx.p("<DOMAIN NAME TOO LONG>");
        }
        Ok(Some(rp))
    }

    /// A question: ` TYPE [CLASS]? name`.
    fn qprint(&self, cx: &mut Ctx<'_>, cp: usize, mdns: bool) -> R<Option<usize>> {
        let np = cp;
        let Some(cp) = self.nskip(cp)? else {
            return Ok(None);
        };
        if !self.has(cp, 4) {
            return Ok(None);
        }
        let t = be16_at(self.b, cp)?;
        let _ = write!(cx.out, " {}", type_name(t));
        let i = be16_at(self.b, cp + 2)?;
        let class = if mdns { i & !0x8000 } else { i };
        if class != 1 {
            let _ = write!(cx.out, " {}", class_name(class));
        }
        if mdns {
            cx.p(if i & 0x8000 != 0 { " (QU)" } else { " (QM)" });
        }
        cx.p("? ");
        Ok(self.fqdn(cx, np)?.map(|e| e + 4))
    }

    /// A resource record; `Some(len)` (the end of the capture) when its fixed part was not
    /// captured, as tcpdump does.
    fn rprint(&self, cx: &mut Ctx<'_>, cp: usize, mdns: bool) -> R<Option<usize>> {
        let v = cx.opts.verbose;
        let cp = if v > 0 {
            cx.p(" ");
            match self.fqdn(cx, cp)? {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        } else {
            self.nskip(cp)?
        };
        let Some(mut cp) = cp.filter(|&c| self.has(c, 10)) else {
            return Ok(Some(self.b.len()));
        };
        let typ = be16_at(self.b, cp)?;
        let i = be16_at(self.b, cp + 2)?;
        cp += 4;
        let class = if mdns { i & !0x8000 } else { i };
        if class != 1 && typ != 41 {
            let _ = write!(cx.out, " {}", class_name(class));
        }
        if mdns && i & 0x8000 != 0 {
            cx.p(" (Cache flush)");
        }
        let mut opt_flags = 0;
        if typ == 41 {
            opt_flags = be16_at(self.b, cp + 2)?;
            cp += 4;
        } else if v > 2 {
            let _ = write!(cx.out, " [{}]", relts(be32_at(self.b, cp)?));
            cp += 4;
        } else {
            cp += 4;
        }
        let len = usize::from(be16_at(self.b, cp)?);
        cp += 2;
        let rp = cp + len;
        let _ = write!(cx.out, " {}", type_name(typ));
        if rp > self.b.len() {
            return Ok(None);
        }
        match typ {
            1 => {
                if !self.has(cp, 4) {
                    return Ok(None);
                }
                let a = &self.b[cp..cp + 4];
                let _ = write!(cx.out, " {}.{}.{}.{}", a[0], a[1], a[2], a[3]);
            }
            2 | 5 | 12 | 39 => {
                cx.p(" ");
                if self.fqdn(cx, cp)?.is_none() {
                    return Ok(None);
                }
            }
            6 if v > 0 => {
                cx.p(" ");
                let Some(c) = self.fqdn(cx, cp)? else {
                    return Ok(None);
                };
                cx.p(" ");
                let Some(c) = self.fqdn(cx, c)? else {
                    return Ok(None);
                };
                if !self.has(c, 20) {
                    return Ok(None);
                }
                for k in 0..5 {
                    let _ = write!(cx.out, " {}", be32_at(self.b, c + 4 * k)?);
                }
            }
            15 => {
                cx.p(" ");
                if !self.has(cp, 2) || self.fqdn(cx, cp + 2)?.is_none() {
                    return Ok(None);
                }
                let _ = write!(cx.out, " {}", be16_at(self.b, cp)?);
            }
            16 => {
                let mut c = cp;
                while c < rp {
                    cx.p(" \"");
                    if !self.has(c, 1) {
                        return Ok(None);
                    }
                    let n = usize::from(u8_at(self.b, c)?);
                    if !self.printn(cx, c + 1, n)? {
                        return Ok(None);
                    }
                    c += 1 + n;
                    cx.p("\"");
                }
            }
            33 => {
                cx.p(" ");
                if !self.has(cp, 6) || self.fqdn(cx, cp + 6)?.is_none() {
                    return Ok(None);
                }
                let _ = write!(
                    cx.out,
                    ":{} {} {}",
                    be16_at(self.b, cp + 4)?,
                    be16_at(self.b, cp)?,
                    be16_at(self.b, cp + 2)?
                );
            }
            28 => {
                if !self.has(cp, 16) {
                    return Ok(None);
                }
                let a = super::ip::addr_string(&self.b[cp..cp + 16]);
                let _ = write!(cx.out, " {a}");
            }
            41 => {
                let _ = write!(cx.out, " UDPsize={class}");
                if opt_flags & 0x8000 != 0 {
                    cx.p(" DO");
                }
                if cp < rp {
                    cx.p(" [");
                    let mut c = cp;
                    while c < rp {
                        match self.eopt(cx, c)? {
                            Some(n) => c = n,
                            None => return Ok(None),
                        }
                        if c < rp {
                            cx.p(",");
                        }
                    }
                    cx.p("]");
                }
            }
            _ => {}
        }
        Ok(Some(rp))
    }

    /// One EDNS(0) option (RFC 6891 §6.1.2).
    fn eopt(&self, cx: &mut Ctx<'_>, cp: usize) -> R<Option<usize>> {
        if !self.has(cp, 2) {
            return Ok(None);
        }
        let opt = be16_at(self.b, cp)?;
        let name = match opt {
            1 => "LLQ".to_string(),
            2 => "UL".to_string(),
            3 => "NSID".to_string(),
            5 => "DAU".to_string(),
            6 => "DHU".to_string(),
            7 => "N3U".to_string(),
            8 => "ECS".to_string(),
            9 => "EXPIRE".to_string(),
            10 => "COOKIE".to_string(),
            11 => "KEEPALIVE".to_string(),
            12 => "PADDING".to_string(),
            13 => "CHAIN".to_string(),
            14 => "KEY-TAG".to_string(),
            _ => format!("Opt{opt}"),
        };
        cx.p(&name);
        if !self.has(cp + 2, 2) {
            return Ok(None);
        }
        let n = usize::from(be16_at(self.b, cp + 2)?);
        let d = cp + 4;
        if !self.has(d, n) {
            return Ok(None);
        }
        let data = &self.b[d..d + n];
        if n > 0 {
            cx.p(" ");
            match opt {
                10 => {
                    if n < 8 || (n > 8 && n < 16) || n > 40 {
                        cx.p(" (invalid)");
                    } else {
                        for (k, b) in data.iter().enumerate() {
                            if k == 8 {
                                cx.p(" ");
                            }
                            let _ = write!(cx.out, "{b:02x}");
                        }
                    }
                }
                12 => {
                    let _ = write!(cx.out, "({n})");
                }
                9 => {
                    if n != 4 {
                        cx.p(" (invalid)");
                    } else {
                        let _ = write!(cx.out, "{} sec", be32_at(data, 0)?);
                    }
                }
                11 => {
                    // RFC 7828: units of 100 ms.
                    if n != 2 {
                        cx.p(" (invalid)");
                    } else {
                        let t = f64::from(be16_at(data, 0)?) / 10.0;
                        let _ = write!(cx.out, "{t:.1} sec");
                    }
                }
                14 => {
                    if n % 2 != 0 {
                        cx.p(" (invalid)");
                    } else {
                        for k in (0..n).step_by(2) {
                            if k > 0 {
                                cx.p(" ");
                            }
                            let _ = write!(cx.out, "{}", be16_at(data, k)?);
                        }
                    }
                }
                5..=7 => {
                    // RFC 6975 algorithm lists.
                    for (k, &a) in data.iter().enumerate() {
                        if k > 0 {
                            cx.p(" ");
                        }
                        let name = match (opt, a) {
                            (5, 0) => "DELETE",
                            (5, 1) => "RSAMD5",
                            (5, 2) => "DH",
                            (5, 3) => "DS",
                            (5, 5) => "RSASHA1",
                            (5, 6) => "DSA-NSEC3-SHA1",
                            (5, 7) => "RSASHA1-NSEC3-SHA1",
                            (5, 8) => "RSASHA256",
                            (5, 10) => "RSASHA512",
                            (5, 12) => "ECC-GOST",
                            (5, 13) => "ECDSAP256SHA256",
                            (5, 14) => "ECDSAP384SHA384",
                            (5, 15) => "ED25519",
                            (5, 16) => "ED448",
                            (5, 252) => "INDIRECT",
                            (5, 253) => "PRIVATEDNS",
                            (5, 254) => "PRIVATEOID",
                            (6, 1) | (7, 1) => "SHA-1",
                            (6, 2) => "SHA-256",
                            (6, 3) => "GOST_R_34.11-94",
                            (6, 4) => "SHA-384",
                            _ => "",
                        };
                        if name.is_empty() {
                            let _ = write!(cx.out, "Alg_{a}");
                        } else {
                            cx.p(name);
                        }
                    }
                }
                8 => ecs(cx, data)?,
                _ => {
                    for b in data {
                        let _ = write!(cx.out, "{b:02x}");
                    }
                }
            }
        }
        Ok(Some(d + n))
    }
}

/// EDNS Client Subnet (RFC 7871 §6): `address/source/scope`.
fn ecs(cx: &mut Ctx<'_>, d: &[u8]) -> R {
    if d.len() < 4 {
        cx.p(" (invalid)");
        return Ok(());
    }
    let family = be16_at(d, 0)?;
    let src = usize::from(d[2]);
    let scope = usize::from(d[3]);
    let bits = match family {
        1 => 32,
        2 => 128,
        _ => {
            cx.p(" (invalid)");
            return Ok(());
        }
    };
    let alen = d.len() - 4;
    if alen > bits / 8 || src > bits || scope > bits || src.div_ceil(8) != alen {
        cx.p(" (invalid)");
        return Ok(());
    }
    let mut padded = [0u8; 16];
    padded[..alen].copy_from_slice(&d[4..]);
    let a = super::ip::addr_string(&padded[..bits / 8]);
    let _ = write!(cx.out, "{a}/{src}/{scope}");
    Ok(())
}

/// tcpdump's `unsigned_relts_print`: `1w2d3h4m5s`.
fn relts(mut secs: u32) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let mut s = String::new();
    for (unit, n) in [
        ("y", 31_536_000u32),
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= n {
            let _ = write!(s, "{}{unit}", secs / n);
            secs %= n;
        }
    }
    s
}

/// Prints a section of `count` records after `label`; `None` when it is cut short.
fn section(
    cx: &mut Ctx<'_>,
    m: &Msg<'_>,
    mut cp: usize,
    mut count: u16,
    label: &str,
    mdns: bool,
) -> R<Option<usize>> {
    // tcpdump checks for remaining data before the first record of the authority and
    // additional sections only.
    let check_first = !label.is_empty();
    if (!check_first || cp < m.b.len()) && count > 0 {
        cx.p(label);
        match m.rprint(cx, cp, mdns)? {
            Some(c) => cp = c,
            None => return Ok(None),
        }
        count -= 1;
        while cp < m.b.len() && count > 0 {
            cx.p(",");
            match m.rprint(cx, cp, mdns)? {
                Some(c) => cp = c,
                None => return Ok(None),
            }
            count -= 1;
        }
    }
    if count > 0 {
        return Ok(None);
    }
    Ok(Some(cp))
}

/// tcpdump's `domain_print`.
pub(crate) fn domain_print(
    cx: &mut Ctx<'_>,
    bp: &[u8],
    length: u32,
    over_tcp: bool,
    mdns: bool,
) -> R {
    cx.proto = "domain";
    let mut bp = bp;
    let mut length = length;
    if over_tcp {
        // RFC 1035 §4.2.2: a two-byte length prefix.
        if length < 2 {
            let _ = write!(cx.out, " [DNS over TCP: length {length} < 2] (invalid)");
            return Ok(());
        }
        length -= 2;
        let prefix = be16_at(bp, 0)?;
        if u32::from(prefix) != length {
            let _ = write!(
                cx.out,
                " [prefix length({prefix}) != length({length})] (invalid)"
            );
            return Ok(());
        }
        bp = &bp[2..];
        cx.p(" ");
    }
    if length < 12 {
        let _ = write!(cx.out, "domain [length {length} < 12] (invalid)");
        return Ok(());
    }
    if bp.len() < 12 {
        return cx.local_trunc();
    }
    let m = Msg { b: bp };
    let id = be16_at(bp, 0)?;
    let flags = be16_at(bp, 2)?;
    let qd = be16_at(bp, 4)?;
    let an = be16_at(bp, 6)?;
    let ns = be16_at(bp, 8)?;
    let ar = be16_at(bp, 10)?;
    // The extended RCODE lives in the OPT record's TTL (RFC 6891 §6.1.3).
    let mut rcode = u32::from(flags & 0xf);
    let mut cp = 12usize;
    'scan: {
        for _ in 0..qd {
            match m.nskip(cp)? {
                Some(c) => cp = c + 4,
                None => break 'scan,
            }
            if cp >= m.b.len() {
                break 'scan;
            }
        }
        for _ in 0..u32::from(an) + u32::from(ns) {
            match m.nskip(cp)? {
                Some(c) => cp = c + 8,
                None => break 'scan,
            }
            if cp + 2 > m.b.len() {
                break 'scan;
            }
            cp += 2 + usize::from(be16_at(bp, cp)?);
            if cp >= m.b.len() {
                break 'scan;
            }
        }
        for _ in 0..ar {
            match m.nskip(cp)? {
                Some(c) => cp = c,
                None => break 'scan,
            }
            if cp + 2 > m.b.len() {
                break 'scan;
            }
            let t = be16_at(bp, cp)?;
            cp += 4;
            if cp + 1 > m.b.len() {
                break 'scan;
            }
            if t == 41 {
                rcode |= u32::from(u8_at(bp, cp)?) << 4;
                break 'scan;
            }
            cp += 4;
            if cp + 2 > m.b.len() {
                break 'scan;
            }
            cp += 2 + usize::from(be16_at(bp, cp)?);
            if cp >= m.b.len() {
                break 'scan;
            }
        }
    }
    const OPS: [&str; 16] = [
        "",
        " inv_q",
        " stat",
        " op3",
        " notify",
        " update",
        " op6",
        " op7",
        " op8",
        " updateA",
        " updateD",
        " updateDA",
        " updateM",
        " updateMA",
        " zoneInit",
        " zoneRef",
    ];
    const RESP: [&str; 24] = [
        "",
        " FormErr",
        " ServFail",
        " NXDomain",
        " NotImp",
        " Refused",
        " YXDomain",
        " YXRRSet",
        " NXRRSet",
        " NotAuth",
        " NotZone",
        " Resp11",
        " Resp12",
        " Resp13",
        " Resp14",
        " NoChange",
        " BadVers",
        "Resp17",
        " Resp18",
        " Resp19",
        " Resp20",
        "Resp21",
        " Resp22",
        " BadCookie",
    ];
    let op = OPS[usize::from((flags >> 11) & 0xf)];
    let v = cx.opts.verbose;
    let trunc = |cx: &mut Ctx<'_>| cx.local_trunc();
    let mut cp = 12usize;
    if flags & 0x8000 != 0 {
        let rc = match RESP.get(rcode as usize) {
            Some(s) => (*s).to_string(),
            None => format!(" Resp{}", rcode & 0xfff),
        };
        let _ = write!(
            cx.out,
            "{id}{op}{rc}{}{}{}{}",
            if flags & 0x0400 != 0 { "*" } else { "" },
            if flags & 0x0080 != 0 { "" } else { "-" },
            if flags & 0x0200 != 0 { "|" } else { "" },
            if flags & 0x0020 != 0 { "$" } else { "" }
        );
        if qd != 1 {
            let _ = write!(cx.out, " [{qd}q]");
        }
        for k in 0..qd {
            if k != 0 {
                cx.p(",");
            }
            if v > 1 {
                cx.p(" q:");
                match m.qprint(cx, cp, mdns)? {
                    Some(c) => cp = c,
                    None => return trunc(cx),
                }
            } else {
                match m.nskip(cp)? {
                    Some(c) => cp = c + 4,
                    None => return trunc(cx),
                }
            }
        }
        let _ = write!(cx.out, " {an}/{ns}/{ar}");
        match section(cx, &m, cp, an, "", mdns)? {
            Some(c) => cp = c,
            None => return trunc(cx),
        }
        if v > 1 {
            match section(cx, &m, cp, ns, " ns:", mdns)? {
                Some(c) => cp = c,
                None => return trunc(cx),
            }
            if section(cx, &m, cp, ar, " ar:", mdns)?.is_none() {
                return trunc(cx);
            }
        }
    } else {
        let _ = write!(
            cx.out,
            "{id}{op}{}{}",
            if flags & 0x0100 != 0 { "+" } else { "" },
            if flags & 0x0010 != 0 { "%" } else { "" }
        );
        if flags & 0x6cf != 0 {
            let _ = write!(cx.out, " [b2&3=0x{flags:x}]");
        }
        if (flags >> 11) & 0xf == 1 {
            if qd != 0 {
                let _ = write!(cx.out, " [{qd}q]");
            }
            if an != 1 {
                let _ = write!(cx.out, " [{an}a]");
            }
        } else {
            if an != 0 {
                let _ = write!(cx.out, " [{an}a]");
            }
            if qd != 1 {
                let _ = write!(cx.out, " [{qd}q]");
            }
        }
        if ns != 0 {
            let _ = write!(cx.out, " [{ns}n]");
        }
        if ar != 0 {
            let _ = write!(cx.out, " [{ar}au]");
        }
        let mut left = qd;
        if left > 0 {
            match m.qprint(cx, cp, mdns)? {
                Some(c) => cp = c,
                None => return trunc(cx),
            }
            left -= 1;
            while cp < m.b.len() && left > 0 {
                match m.qprint(cx, cp, mdns)? {
                    Some(c) => cp = c,
                    None => return trunc(cx),
                }
                left -= 1;
            }
        }
        if left > 0 {
            return trunc(cx);
        }
        if v > 1 {
            match section(cx, &m, cp, an, "", mdns)? {
                Some(c) => cp = c,
                None => return trunc(cx),
            }
            match section(cx, &m, cp, ns, " ns:", mdns)? {
                Some(c) => cp = c,
                None => return trunc(cx),
            }
            if section(cx, &m, cp, ar, " ar:", mdns)?.is_none() {
                return trunc(cx);
            }
        }
    }
    let _ = write!(cx.out, " ({length})");
    Ok(())
}
