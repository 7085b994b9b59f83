//! The `sipas` binary end to end, each test on its own SQLite file: the all-or-nothing user import,
//! user creation with a generated password, repeatable migrations, and the first ministry account
//! with a generated password. Users the command line creates are checked by logging in to a real
//! `sipas serve` on the same database.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const ADMIN_PASSWORD: &str = "cli-Test-ministry-passphrase";

/// A scratch folder holding one database; removed when dropped.
struct Scratch {
    dir: PathBuf,
}

/// What one run of the binary did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Standard output then standard error (the log goes to standard output).
    fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Removes ANSI colour sequences from log output.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("sipas-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch folder");
        Scratch { dir }
    }

    /// The binary with a clean `SIPAS_*` environment pointing at this folder's database.
    fn command(&self, admin_password: Option<&str>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipas"));
        // The working folder matters: settings are read from ./sipas.toml when present.
        cmd.current_dir(&self.dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SIPAS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env(
                "SIPAS_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.dir.join("x.db").display()),
            )
            .env("SIPAS_LOG", "warn");
        if let Some(p) = admin_password {
            cmd.env("SIPAS_ADMIN_PASSWORD", p);
        }
        cmd
    }

    fn run_with(&self, admin_password: Option<&str>, args: &[&str]) -> Run {
        let out = self
            .command(admin_password)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sipas");
        Run {
            success: out.status.success(),
            stdout: strip_ansi(&String::from_utf8_lossy(&out.stdout)),
            stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(Some(ADMIN_PASSWORD), args)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    /// `sipas serve` on this database and a free port, until the returned guard is dropped.
    fn serve(&self) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = self
            .command(None)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipas serve");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(server.request("GET", "/readyz", ""), Ok((200, _))) {
            assert!(Instant::now() < deadline, "the server did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `sipas serve`, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// One HTTP/1.1 request; returns status and body.
    fn request(&self, method: &str, path: &str, json: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Logs in; returns status and body.
    fn login(&self, username: &str, password: &str) -> (u16, String) {
        self.request(
            "POST",
            "/api/v1/auth/login",
            &format!(r#"{{"username":"{username}","password":"{password}"}}"#),
        )
        .expect("login request")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_generated_password(password: &str) {
    assert_eq!(password.len(), 16, "{password:?}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password:?}"
    );
}

#[test]
fn import_is_all_or_nothing_and_names_every_bad_line() {
    let scratch = Scratch::new("import");
    let bad = scratch.write(
        "bad.csv",
        "username,full_name,role,unit_code,team\n\
         good.one,Nguyễn Văn An,enumerator,12,lc-team-1\n\
         bad.unit,Trần Văn Bình,enumerator,99999,lc-team-1\n\
         bad.role,Lê Thị Cúc,ministry,12,lc-team-1\n\
         good.one,Phạm Văn Dũng,supervisor,12,lc-team-1\n\
         no.name,,enumerator,12,lc-team-1\n\
         no.team,Hoàng Thị Em,enumerator,12,\n\
         good.two,Vũ Văn Phúc,supervisor,12,lc-team-1\n",
    );
    let run = scratch.run(&["user", "import", &bad, "--geography", "vn-2025"]);
    assert!(!run.success, "{}", run.combined());
    for (line, fault) in [
        (3, "unit_code [unknown_unit]:"),
        (4, "role [invalid_role]:"),
        (5, "username [duplicate_username]:"),
        (6, "full_name [required]:"),
        (7, "team [required]:"),
    ] {
        assert!(
            run.stderr.contains(&format!("line {line}: {fault}")),
            "line {line} ({fault}) is reported: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("Same username as line 2"),
        "{}",
        run.stderr
    );
    for good_line in [2, 8] {
        assert!(
            !run.stderr.contains(&format!("line {good_line}:")),
            "{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("5 bad line(s)"), "{}", run.stderr);
    assert!(!run.stdout.contains("initial_password"), "{}", run.stdout);

    // Nothing of the bad file was imported: its good lines import now.
    let good = scratch.write(
        "good.csv",
        "username,full_name,role,unit_code,team\n\
         good.one,Nguyễn Văn An,enumerator,12,lc-team-1\n\
         good.two,Vũ Văn Phúc,supervisor,12,lc-team-1\n\
         good.three,\"Đặng, Thị Giang\",enumerator,03388,lc-team-1\n",
    );
    let run = scratch.run(&["user", "import", &good]);
    assert!(run.success, "{}", run.combined());
    assert!(
        run.stdout
            .lines()
            .any(|l| l == "username,full_name,initial_password"),
        "{}",
        run.stdout
    );
    let mut passwords = Vec::new();
    for (username, full_name) in [
        ("good.one", "\"Nguyễn Văn An\""),
        ("good.two", "\"Vũ Văn Phúc\""),
        ("good.three", "\"Đặng, Thị Giang\""),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{username},")))
            .unwrap_or_else(|| panic!("{username} in {}", run.stdout));
        let (name, password) = line[username.len() + 1..].rsplit_once(',').unwrap();
        assert_eq!(name, full_name);
        assert_generated_password(password);
        passwords.push((username, password.to_owned()));
    }
    assert!(run.stderr.contains("imported 3 users"), "{}", run.stderr);

    // The same file again: every line is now taken, and nothing changes.
    let run = scratch.run(&["user", "import", &good]);
    assert!(!run.success, "{}", run.combined());
    for line in 2..=4 {
        assert!(
            run.stderr.contains(&format!(
                "line {line}: username [username_taken]: Tên đăng nhập đã tồn tại. / This username is already taken."
            )),
            "{}",
            run.stderr
        );
    }

    let server = scratch.serve();
    for (username, password) in &passwords {
        let (status, body) = server.login(username, password);
        assert_eq!(status, 200, "{username}: {body}");
        assert!(body.contains("access_token"), "{body}");
    }
    let (status, _) = server.login("good.one", &passwords[1].1);
    assert_eq!(status, 401, "each user has their own password");
}

#[test]
fn user_create_prints_a_generated_password_and_checks_the_scope() {
    let scratch = Scratch::new("create");
    let run = scratch.run(&[
        "user",
        "create",
        "--username",
        "lc.reviewer",
        "--role",
        "province_reviewer",
        "--unit",
        "12",
        "--full-name",
        "Người xem Lai Châu",
    ]);
    assert!(run.success, "{}", run.combined());
    assert!(
        run.stdout
            .contains("created user lc.reviewer (id 2, role province_reviewer)"),
        "{}",
        run.stdout
    );
    let password = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("initial password: "))
        .unwrap_or_else(|| panic!("a generated password in {}", run.stdout))
        .to_owned();
    assert_generated_password(&password);

    let again = scratch.run(&[
        "user",
        "create",
        "--username",
        "LC.Reviewer",
        "--role",
        "province_reviewer",
        "--unit",
        "14",
        "--full-name",
        "Người xem khác",
    ]);
    assert!(!again.success);
    assert!(again.stderr.contains("username taken"), "{}", again.stderr);

    // A province reviewer scoped to a commune (Đoàn Kết, Lai Châu).
    let commune = scratch.run(&[
        "user",
        "create",
        "--username",
        "commune.reviewer",
        "--role",
        "province_reviewer",
        "--unit",
        "03388",
        "--full-name",
        "Người xem xã",
    ]);
    assert!(!commune.success);
    assert!(
        commune.stderr.contains("unit_code [province_required]:"),
        "{}",
        commune.stderr
    );
    assert!(
        commune.stderr.contains("user not created"),
        "{}",
        commune.stderr
    );

    let weak = scratch.run(&[
        "user",
        "create",
        "--username",
        "weak.user",
        "--role",
        "enumerator",
        "--unit",
        "12",
        "--team",
        "t1",
        "--full-name",
        "Mật khẩu yếu",
        "--password",
        "password123",
    ]);
    assert!(!weak.success);
    assert!(
        weak.stderr.contains("password [weak_password]:"),
        "{}",
        weak.stderr
    );
    assert!(!weak.stdout.contains("initial password"), "{}", weak.stdout);

    let server = scratch.serve();
    let (status, body) = server.login("lc.reviewer", &password);
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.login("commune.reviewer", &password);
    assert_eq!(status, 401, "the refused user does not exist");
}

#[test]
fn migrate_can_run_again_on_a_migrated_database() {
    let scratch = Scratch::new("migrate");
    for attempt in 1..=2 {
        let run = scratch.run(&["migrate"]);
        assert!(run.success, "attempt {attempt}: {}", run.combined());
        assert!(!run.combined().contains("ERROR"), "{}", run.combined());
    }
    assert!(scratch.dir.join("x.db").exists());
    // The twice-migrated database is usable.
    let run = scratch.run(&[
        "user",
        "create",
        "--username",
        "after.migrate",
        "--role",
        "province_reviewer",
        "--unit",
        "14",
        "--full-name",
        "Người xem Sơn La",
    ]);
    assert!(run.success, "{}", run.combined());
}

#[test]
fn without_an_admin_password_the_first_start_logs_a_generated_one() {
    let scratch = Scratch::new("bootstrap");
    let run = scratch.run_with(None, &["migrate"]);
    assert!(run.success, "{}", run.combined());
    let log = run.combined();
    let warning = log
        .lines()
        .find(|l| l.contains("GENERATED"))
        .unwrap_or_else(|| panic!("a warning about the generated password in {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    let password: String = warning
        .split_once("password=")
        .unwrap_or_else(|| panic!("the password in {warning}"))
        .1
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert_generated_password(&password);

    // Shown only once: the account exists now.
    let run = scratch.run_with(None, &["migrate"]);
    assert!(run.success, "{}", run.combined());
    assert!(!run.combined().contains("GENERATED"), "{}", run.combined());

    let server = scratch.serve();
    let (status, body) = server.login("admin", &password);
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.login("admin", ADMIN_PASSWORD);
    assert_eq!(status, 401);
}

/// The README's order on a fresh machine: a first start without `SIPAS_ADMIN_PASSWORD` generates
/// one; a later start with it does not change the account and says so loudly; `sipas user
/// set-password` is the documented recovery, and ends the account's sessions.
#[test]
fn an_ignored_admin_password_is_warned_about_and_set_password_recovers() {
    let scratch = Scratch::new("recover");
    assert!(scratch.run_with(None, &["migrate"]).success);
    let run = scratch.run_with(Some(ADMIN_PASSWORD), &["migrate"]);
    assert!(run.success, "{}", run.combined());
    let log = run.combined();
    let warning = log
        .lines()
        .find(|l| l.contains("SIPAS_ADMIN_PASSWORD is IGNORED"))
        .unwrap_or_else(|| panic!("a warning that the password is ignored in {log}"));
    assert!(
        warning.contains("WARN") && warning.contains("sipas user set-password"),
        "{warning}"
    );
    let run = scratch.run_with(Some(ADMIN_PASSWORD), &["migrate"]);
    assert!(run.combined().contains("IGNORED"), "said at every start");

    // Another name than the account's: also said.
    let mut cmd = scratch.command(Some(ADMIN_PASSWORD));
    let out = cmd
        .env("SIPAS_ADMIN_USERNAME", "quantri")
        .arg("migrate")
        .output()
        .unwrap();
    let log = strip_ansi(&String::from_utf8_lossy(&out.stdout));
    assert!(log.contains("but no 'quantri'"), "{log}");

    let run = scratch.run(&[
        "user",
        "set-password",
        "--username",
        "ADMIN",
        "--password",
        ADMIN_PASSWORD,
    ]);
    assert!(run.success, "{}", run.combined());
    assert!(run.stdout.contains("password of admin"), "{}", run.stdout);
    let run = scratch.run(&["migrate"]);
    assert!(!run.combined().contains("IGNORED"), "{}", run.combined());
    let server = scratch.serve();
    let (status, body) = server.login("admin", ADMIN_PASSWORD);
    assert_eq!(status, 200, "{body}");
    drop(server);

    // Generated when not given; refused by the policy; unknown users named.
    let run = scratch.run_with(None, &["user", "set-password", "--username", "admin"]);
    assert!(run.success, "{}", run.combined());
    let generated = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("new password: "))
        .expect("the generated password");
    assert_generated_password(generated);
    let run = scratch.run(&[
        "user",
        "set-password",
        "--username",
        "admin",
        "--password",
        "short",
    ]);
    assert!(!run.success);
    assert!(run.stderr.contains("weak_password"), "{}", run.stderr);
    let run = scratch.run(&["user", "set-password", "--username", "nobody"]);
    assert!(!run.success);
    assert!(run.stderr.contains("no user nobody"), "{}", run.stderr);
}

/// The file of generated passwords is readable by its owner only, even when it existed before.
#[cfg(unix)]
#[test]
fn generated_passwords_are_written_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("private");
    assert!(scratch.run(&["migrate"]).success);
    let csv = scratch.write(
        "staff.csv",
        "username,full_name,role,unit_code,team\ndtv.one,Nguyễn Văn Một,enumerator,12,LC-1\n",
    );
    let out = scratch.write("passwords.csv", "old");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = scratch.run(&["user", "import", &csv, "--passwords-out", &out]);
    assert!(run.success, "{}", run.combined());
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("username,full_name,initial_password\ndtv.one,"),
        "{text}"
    );
}

/// The SQLite file is relative to the working folder: the log names it in full at every start.
#[test]
fn the_sqlite_file_is_logged_with_its_absolute_path() {
    let scratch = Scratch::new("where");
    let out = scratch
        .command(Some(ADMIN_PASSWORD))
        .env("SIPAS_DATABASE_URL", "sqlite://rel/x.db?mode=rwc")
        .env("SIPAS_LOG", "info")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = strip_ansi(&String::from_utf8_lossy(&out.stdout));
    let line = log
        .lines()
        .find(|l| l.contains("using the SQLite database file"))
        .unwrap_or_else(|| panic!("no line naming the file in {log}"));
    let want = std::fs::canonicalize(&scratch.dir)
        .unwrap()
        .join("rel/x.db");
    assert!(
        line.contains(&want.display().to_string()),
        "{line} does not name {}",
        want.display()
    );
}
