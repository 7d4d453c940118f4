//! Fuzz-style robustness: arbitrary and mutated script text never panics, and whatever
//! parses prints back to text that parses to the same events.

use std::path::PathBuf;

use synack_drill::{Script, find_scripts, parse_script};

/// xorshift64*: a small deterministic generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TOKENS: &[&str] = &[
    "<",
    ">",
    "S",
    "S.",
    ".",
    "P.",
    "F.",
    "R",
    "R.",
    "-",
    "SEW",
    "0:0(0)",
    "1:1001(1000)",
    "...(0)",
    "!",
    "ack",
    "win",
    "urg",
    "1",
    "0",
    "65535",
    "4294967295",
    "99999999999999999999",
    "0x",
    "0x1f",
    "-1",
    "<mss 1460,nop,wscale 7>",
    "<...>",
    "<",
    ">",
    "sack",
    "1:2",
    "TS",
    "val",
    "ecr",
    "md5",
    "valid",
    "FO",
    "abcd",
    "sackOK",
    "nop",
    "eol",
    ",",
    "`",
    "`ls`",
    "%{",
    "}%",
    "...",
    "+",
    "+0",
    "+.1",
    "0.100",
    "~",
    "*",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "|",
    "=",
    "\"",
    "\"a\\x4\"",
    "\\",
    "#ifdef X",
    "#ifndef Y",
    "#else",
    "#endif",
    "--",
    "--a=b",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
    "\t",
    "\r\n",
    "icmp",
    "unreachable",
    "frag_needed",
    "mtu",
    "code_3",
    "type_9",
    "udp",
    "/udp(1 > 2)",
    "[noecn]",
    "[ect0]",
    "(tos 0x20)",
    "(ttl 64, df)",
    "socket(..., SOCK_STREAM, IPPROTO_TCP)",
    "= 3",
    "= -1 EINPROGRESS (x)",
    "close(3)",
    "htons(80)",
    "{sa_family=AF_INET, ...}",
    "NULL",
    "O_RDWR|O_NONBLOCK",
    "é",
    "\0",
];

const SAMPLES: &[&str] = &[
    "--tolerance_usecs=10000\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n",
    "+0...0.200 accept(3, ..., ...) = 4\n",
    "+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n",
    "+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n",
    "+0 > (tos 0x20) R. 0:0(0)! ack 2 win 0/udp(9811 > 1)\n",
    "1.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n",
    "+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]\n",
    "+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%\n",
    "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_tso_win_divisor=100`\n",
    "#ifdef FreeBSD\n+0 > S. ...(0) ack 65537 win 65535 <...>\n#endif\n",
    "+0 f({a=htons(1), b=[1, \"x\\n\"], ...}, -5|O_X) = 0 /* c */ // d\n",
    "+.3~+.310 > . 26000:26000(0) ack 1\n* > . 1:1(0) ack 1 <nop,nop,TS val 1 ecr 2>\n",
];

/// Parses `text`; if it parses, checks that the printed form parses to the same events.
fn check(text: &str) -> bool {
    let Ok(script) = parse_script(text) else {
        return false;
    };
    let printed = script.to_string();
    let again: Script = match parse_script(&printed) {
        Ok(s) => s,
        Err(e) => panic!(
            "reprinted text does not parse: {e}\n--- input ---\n{text:?}\n--- printed ---\n{printed}"
        ),
    };
    assert_eq!(script.events.len(), again.events.len(), "{text:?}");
    for (a, b) in script.events.iter().zip(&again.events) {
        assert_eq!(
            (&a.time, &a.end, &a.guards, &a.kind),
            (&b.time, &b.end, &b.guards, &b.kind),
            "{text:?}"
        );
    }
    true
}

fn corpus() -> Vec<String> {
    let mut out: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if let Ok(files) = find_scripts(&root) {
        // Every 10th public script adds real-world shapes to mutate.
        for f in files.iter().step_by(10) {
            if let Ok(bytes) = std::fs::read(f) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    } else {
        println!(
            "SKIP (partly): {} is absent; mutating built-in samples only",
            root.display()
        );
    }
    out
}

#[test]
fn random_bytes_never_panic() {
    let alphabet: Vec<char> = " \t\n\r<>[](){}`%~*+-.!:,|=\"\\/#0123456789xSFRPWE_abcdefkmnoqstuvw"
        .chars()
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..1500 {
        let len = rng.below(120);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        check(&s);
    }
}

#[test]
fn token_soup_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut parsed = 0;
    for _ in 0..2000 {
        let n = rng.below(16);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(rng.pick(TOKENS));
            if rng.below(3) == 0 {
                s.push(' ');
            }
        }
        parsed += usize::from(check(&s));
    }
    println!("{parsed} of 2000 token soups parsed");
}

#[test]
fn mutated_scripts_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut parsed = 0;
    let total = 2500;
    for _ in 0..total {
        let base = &corpus[rng.below(corpus.len())];
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let len = bytes.len();
            let at = rng.below(len + 1);
            let span = rng.below(12).min(len - at.min(len));
            match rng.below(6) {
                0 => {
                    bytes.drain(at..at + span);
                }
                1 => {
                    let copy: Vec<u8> = bytes[at..at + span].to_vec();
                    bytes.splice(at..at, copy);
                }
                2 => {
                    let tok = rng.pick(TOKENS).as_bytes().to_vec();
                    bytes.splice(at..at, tok);
                }
                3 => {
                    if at < len {
                        bytes[at] = rng.next() as u8;
                    }
                }
                4 => bytes.truncate(at),
                _ => {
                    let tok = rng.pick(TOKENS).as_bytes().to_vec();
                    bytes.splice(at..at + span, tok);
                }
            }
        }
        parsed += usize::from(check(&String::from_utf8_lossy(&bytes)));
    }
    println!("{parsed} of {total} mutated scripts still parsed");
}

#[test]
fn every_prefix_of_a_sample_is_handled() {
    for sample in SAMPLES {
        for end in 0..=sample.len() {
            if sample.is_char_boundary(end) {
                check(&sample[..end]);
            }
        }
    }
}

#[test]
fn pathological_inputs_are_errors_not_crashes() {
    let deep = |open: &str, n: usize| format!("0 f({}) = 0", open.repeat(n));
    for text in [
        deep("[", 100_000),
        deep("{", 100_000),
        deep("g(", 100_000),
        deep("[1, ", 50_000),
        format!("0 f({}) = 0", "1|".repeat(10_000)),
        format!("0 f({}) = 0", "9".repeat(10_000)),
        format!("{} close(3) = 0", "9".repeat(10_000)),
        format!("0 < S 0:0(0) <{}>", "nop,".repeat(10_000)),
        "/*".repeat(1000),
        "`".repeat(1001),
        "%{".to_string(),
        "#ifdef A\n".repeat(10_000),
        "#endif\n".repeat(3),
        "\n".repeat(100_000),
    ] {
        let _ = parse_script(&text);
    }
    // A very long but legal chain of `|` is fine (it is not nested).
    let text = format!("0 f({}1) = 0", "1|".repeat(10_000));
    assert!(parse_script(&text).is_ok());
    // Nesting beyond the limit is an error, not a stack overflow.
    assert!(parse_script(&deep("[", 1000)).is_err());
}
