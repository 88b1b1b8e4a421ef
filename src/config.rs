//! `--config FILE` of `skein server`, `skein agent` and `skein up`, `--print-config`,
//! and `skein config example`.
//!
//! The file is TOML with a table per command, `[server]`, `[agent]` and `[up]`, so one
//! file can serve every process of a deployment; each command reads its own table, and
//! every table is checked. A key is the long name of one of that command's flags with
//! `_` for `-` (`--data-dir` is `data_dir`); a repeatable flag takes an array, a switch a
//! boolean.
//!
//! The keys are read off clap's own description of the command line (flattened argument
//! structs included), so a flag added to these commands has a key, and an environment
//! variable, without anything here changing.
//!
//! Precedence is clap's: every flag of these commands has an environment variable (its
//! own, or `SKEIN_<KEY>` given here), and before the real parse the file's values are
//! put into those of them that are not set. A flag beats its environment variable,
//! which beats the file, which beats the built-in default; and clap checks conflicts,
//! requirements and values of the file's settings as it does those of the environment.

use anyhow::Result;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, Parser};
use std::any::TypeId;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The commands that take `--config`; each reads the table of its name.
pub const COMMANDS: [&str; 3] = ["server", "agent", "up"];

/// The id of the `--config` argument.
const CONFIG: &str = "config";
/// The id of the `--print-config` argument.
const PRINT_CONFIG: &str = "print_config";

/// `skein config …`.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ConfigCommand {
    /// Print a configuration file for `skein server|agent|up --config FILE` with every
    /// key, its help, its environment variable and its default (keys without a default
    /// are commented out). As printed it changes nothing.
    Example,
}

/// Runs `skein config …`; `cli` is the whole command line's description
/// (`Cli::command()`).
pub fn run(args: ConfigArgs, cli: Command) -> Result<()> {
    match args.command {
        ConfigCommand::Example => write_out(&example(&command(cli))),
    }
}

/// Writes `text` to stdout; a reader that stopped reading (`| head`) is no error.
fn write_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Parses the process's command line into `P`, with the settings of `--config FILE`
/// (or `SKEIN_CONFIG`) beneath the environment and the flags. Exits as clap does on a
/// bad command line (and with 0 after printing `--print-config`); a bad file is an
/// error naming each mistake's line.
///
/// # Safety
///
/// No other thread may exist yet: the file's settings are put into environment
/// variables ([`FileSettings::apply`]).
pub unsafe fn parse<P: Parser>() -> Result<P> {
    let cli = command(P::command());
    let args: Vec<OsString> = std::env::args_os().collect();
    let file = match find_config(&cli, &args) {
        Some((section, path)) => Some(FileSettings::read(&cli, &section, &path)?),
        None => None,
    };
    // SAFETY: no other thread exists, as the caller promises.
    let applied = match &file {
        Some(f) => unsafe { f.apply() },
        None => Vec::new(),
    };
    // Built again: clap reads an argument's environment variable when the argument is
    // made, so the first one has not seen the file's.
    let cli = command(P::command());
    let matches = cli.clone().get_matches_from(&args);
    if let Some((name, sub)) = matches.subcommand() {
        if COMMANDS.contains(&name) && sub.get_flag(PRINT_CONFIG) {
            let sub_cmd = cli.find_subcommand(name).expect("a parsed subcommand");
            write_out(&effective(sub_cmd, sub, file.as_ref(), &applied))?;
            std::process::exit(0);
        }
    }
    Ok(P::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cli.clone()).exit()))
}

/// `cli` with `--config` and `--print-config` on each of [`COMMANDS`], and an
/// environment variable on every flag of theirs that has none: `SKEIN_` and the key in
/// capitals (`--batch-wait-ms` is `SKEIN_BATCH_WAIT_MS`). A repeatable flag without a
/// value delimiter gets `\n`, so its variable (and the file, through it) can hold
/// several values, one per line, as `SKEIN_REDACT` always did.
pub fn command(mut cli: Command) -> Command {
    for name in COMMANDS {
        cli = cli.mut_subcommand(name, with_config_args);
    }
    cli
}

fn with_config_args(sub: Command) -> Command {
    let keys: Vec<clap::Id> = sub
        .get_arguments()
        .filter(|a| is_key(a))
        .map(|a| a.get_id().clone())
        .collect();
    let mut sub = sub
        .arg(
            Arg::new(CONFIG)
                .long("config")
                .value_name("FILE")
                .env("SKEIN_CONFIG")
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Read settings from this TOML file (its [server], [agent] or [up] table); \
                     environment variables override it and flags override both. \
                     `skein config example` prints one with every key",
                ),
        )
        .arg(
            Arg::new(PRINT_CONFIG)
                .long("print-config")
                .action(ArgAction::SetTrue)
                .help(
                    "Print the settings this command would run with, and where each comes \
                     from, as a config file; then exit without starting",
                ),
        );
    for id in keys {
        sub = sub.mut_arg(id, |arg| {
            let arg = match arg.get_env() {
                Some(_) => arg,
                None => {
                    let env = format!("SKEIN_{}", key_name(&arg).to_ascii_uppercase());
                    arg.env(env)
                }
            };
            if matches!(arg.get_action(), ArgAction::Append) && arg.get_value_delimiter().is_none()
            {
                arg.value_delimiter('\n')
            } else {
                arg
            }
        });
    }
    sub
}

/// Whether `arg` is a setting, and so a key of the file: a flag, but not `--help`,
/// `--version` or the config arguments themselves.
fn is_key(arg: &Arg) -> bool {
    arg.get_long().is_some()
        && !arg.is_positional()
        && !matches!(
            arg.get_id().as_str(),
            "help" | "version" | CONFIG | PRINT_CONFIG
        )
}

/// The key of a flag: its long name with `_` for `-`.
fn key_name(arg: &Arg) -> String {
    arg.get_long().unwrap_or_default().replace('-', "_")
}

/// A value of one TOML type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    Bool,
    Int,
    Float,
    Text,
}

impl Scalar {
    fn of(arg: &Arg) -> Scalar {
        let t = arg.get_value_parser().type_id();
        let is = |id: TypeId| t == id;
        if is(TypeId::of::<bool>()) {
            Scalar::Bool
        } else if [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
        ]
        .into_iter()
        .any(is)
        {
            Scalar::Int
        } else if is(TypeId::of::<f64>()) || is(TypeId::of::<f32>()) {
            Scalar::Float
        } else {
            Scalar::Text
        }
    }

    /// How an error names the type: "a boolean", "an integer"….
    fn described(self) -> &'static str {
        match self {
            Scalar::Bool => "a boolean (true or false)",
            Scalar::Int => "an integer",
            Scalar::Float => "a number",
            Scalar::Text => "a string",
        }
    }

    /// How an error names several values of the type.
    fn plural(self) -> &'static str {
        match self {
            Scalar::Bool => "booleans",
            Scalar::Int => "integers",
            Scalar::Float => "numbers",
            Scalar::Text => "strings",
        }
    }

    /// `raw` (a value clap took) written as TOML of this type.
    fn render(self, raw: &str) -> String {
        match self {
            Scalar::Bool if raw == "true" || raw == "false" => raw.to_string(),
            Scalar::Int if raw.parse::<i128>().is_ok() => raw.trim_start_matches('+').into(),
            // `{:?}` keeps a `.0`, so a float stays a TOML float.
            Scalar::Float => match raw.parse::<f64>() {
                Ok(f) if f.is_finite() => format!("{f:?}"),
                _ => quote(raw),
            },
            _ => quote(raw),
        }
    }
}

/// What a key takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A switch (`--insecure`): a boolean; the value of the default is the same as none.
    Switch,
    /// One value.
    One(Scalar),
    /// A repeatable flag: an array, its items joined by the delimiter for clap.
    List(Scalar, char),
}

/// One key of one command.
struct Key<'c> {
    name: String,
    arg: &'c Arg,
    kind: Kind,
}

impl Key<'_> {
    fn env(&self) -> String {
        self.arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The default values, as clap will parse them.
    fn defaults(&self) -> Vec<String> {
        let defaults: Vec<String> = self
            .arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        // clap gives a switch its default only when it builds the command for a parse.
        match self.arg.get_action() {
            ArgAction::SetTrue if defaults.is_empty() => vec!["false".into()],
            ArgAction::SetFalse if defaults.is_empty() => vec!["true".into()],
            _ => defaults,
        }
    }

    /// A value to show where there is no default: the flag's value name.
    fn placeholder(&self) -> String {
        let name = self
            .arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(|n| n.to_string())
            .unwrap_or_else(|| self.name.to_ascii_uppercase());
        let one = |s: Scalar| match s {
            Scalar::Bool => "false".to_string(),
            Scalar::Int => "0".into(),
            Scalar::Float => "0.0".into(),
            Scalar::Text => quote(&name),
        };
        match self.kind {
            Kind::Switch => "true".into(),
            Kind::One(s) => one(s),
            Kind::List(s, _) => format!("[{}]", one(s)),
        }
    }

    /// Raw values (as clap holds them) written as TOML.
    fn render(&self, raw: &[String]) -> String {
        match self.kind {
            Kind::Switch => Scalar::Bool.render(raw.first().map_or("false", String::as_str)),
            Kind::One(s) => s.render(raw.first().map_or("", String::as_str)),
            Kind::List(s, _) => {
                let items: Vec<String> = raw.iter().map(|r| s.render(r)).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }

    /// The value to write in an error's example: the default, else the placeholder.
    fn example(&self) -> String {
        let d = self.defaults();
        if d.is_empty() {
            self.placeholder()
        } else {
            self.render(&d)
        }
    }
}

/// The keys of one command, in the order of its `--help`.
fn keys(sub: &Command) -> Vec<Key<'_>> {
    sub.get_arguments()
        .filter(|a| is_key(a))
        .map(|arg| {
            let kind = match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => Kind::Switch,
                ArgAction::Append => {
                    Kind::List(Scalar::of(arg), arg.get_value_delimiter().unwrap_or('\n'))
                }
                _ => Kind::One(Scalar::of(arg)),
            };
            Key {
                name: key_name(arg),
                arg,
                kind,
            }
        })
        .collect()
}

/// The command and the file `--config` names (or `SKEIN_CONFIG`), found by a lenient
/// first parse: the file may hold what the real parse requires (`data_dir`). `None`
/// for other commands and for command lines clap refuses anyway (the real parse says
/// why).
fn find_config(cli: &Command, args: &[OsString]) -> Option<(String, PathBuf)> {
    let matches = cli
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    let (name, sub) = matches.subcommand()?;
    if !COMMANDS.contains(&name) {
        return None;
    }
    let path = sub.try_get_one::<PathBuf>(CONFIG).ok()??;
    Some((name.to_string(), path.clone()))
}

/// One setting of the file.
#[derive(Debug, Clone, PartialEq)]
struct Setting {
    key: String,
    env: String,
    /// The environment variable's value; `None` when the value is the same as none (a
    /// switch at its default, an empty array), which is then not written, so a switch
    /// set to `false` in the file does not count as given for clap's conflicts.
    value: Option<String>,
    line: usize,
}

/// The settings of one command's table of a config file.
#[derive(Debug)]
struct FileSettings {
    /// The file as named.
    path: PathBuf,
    settings: Vec<Setting>,
}

/// A mistake in the file, at a line.
#[derive(Debug)]
struct Mistake {
    line: usize,
    message: String,
}

impl FileSettings {
    /// Reads `path` and checks every table of it; the settings are those of `section`.
    fn read(cli: &Command, section: &str, path: &Path) -> Result<FileSettings> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the config file {}: {e}; check the path given to --config \
                 (or SKEIN_CONFIG), or print a file to start from with `skein config example`",
                path.display()
            )
        })?;
        let settings = check(cli, section, &text)
            .map_err(|mistakes| anyhow::anyhow!(describe(path, &mistakes)))?;
        Ok(FileSettings {
            path: path.to_path_buf(),
            settings,
        })
    }

    /// Puts each setting into its environment variable unless that is set already (the
    /// environment wins); answers the variables set.
    ///
    /// # Safety
    ///
    /// No other thread may exist: changing the environment while another thread reads
    /// it is undefined behaviour (which is why `set_var` is `unsafe` from edition 2024).
    unsafe fn apply(&self) -> Vec<String> {
        let mut applied = Vec::new();
        for s in &self.settings {
            if let Some(value) = &s.value {
                if std::env::var_os(&s.env).is_none() {
                    std::env::set_var(&s.env, value);
                    applied.push(s.env.clone());
                }
            }
        }
        applied
    }

    fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }
}

/// The message of a file's mistakes, each with its line.
fn describe(path: &Path, mistakes: &[Mistake]) -> String {
    let path = path.display();
    match mistakes {
        [one] => format!("{path}:{}: {}", one.line, one.message),
        many => {
            let mut text = format!("the config file {path} has {} mistakes:", many.len());
            for m in many {
                let _ = write!(text, "\n  {path}:{}: {}", m.line, m.message);
            }
            text
        }
    }
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

type DeValue<'a> = toml::de::DeValue<'a>;

/// Checks every table of the file `text` against the commands of `cli`, answering the
/// settings of `section`, or every mistake found (in the order of their lines).
fn check(cli: &Command, section: &str, text: &str) -> Result<Vec<Setting>, Vec<Mistake>> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        vec![Mistake {
            line: line_of(text, e.span().map_or(0, |s| s.start)),
            message: format!("this is not valid TOML: {}", e.message().trim_end()),
        }]
    })?;
    let commands: Vec<(&str, Vec<Key>)> = COMMANDS
        .iter()
        .filter_map(|&name| cli.find_subcommand(name).map(|c| (name, keys(c))))
        .collect();
    let mut mistakes = Vec::new();
    let mut settings = Vec::new();
    for (name, value) in doc.get_ref() {
        let line = line_of(text, name.span().start);
        let name = name.get_ref().as_ref();
        let Some((_, keys)) = commands.iter().find(|(c, _)| *c == name) else {
            mistakes.push(Mistake {
                line,
                message: outside_tables(name, &commands),
            });
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            mistakes.push(Mistake {
                line,
                message: format!(
                    "`{name}` must be a table: write [{name}] on a line of its own, and its \
                     keys below it"
                ),
            });
            continue;
        };
        for (key, value) in table {
            let line = line_of(text, key.span().start);
            let key = key.get_ref().as_ref();
            let Some(k) = keys.iter().find(|k| k.name == key) else {
                mistakes.push(Mistake {
                    line,
                    message: unknown_key(name, key, &commands),
                });
                continue;
            };
            match convert(k, value.get_ref()) {
                Ok(value) if name == section => settings.push(Setting {
                    key: k.name.clone(),
                    env: k.env(),
                    value,
                    line,
                }),
                Ok(_) => {}
                Err(message) => mistakes.push(Mistake {
                    line: line_of(text, value.span().start),
                    message,
                }),
            }
        }
    }
    if mistakes.is_empty() {
        Ok(settings)
    } else {
        mistakes.sort_by_key(|m| m.line);
        Err(mistakes)
    }
}

/// What to say of a name at the top of the file that is not a command's table.
fn outside_tables(name: &str, commands: &[(&str, Vec<Key>)]) -> String {
    let owners = owners(name, commands);
    if owners.is_empty() {
        format!(
            "unknown table `{name}`: the file has a table per command, [server], [agent] \
             and [up] (`skein config example` prints them with every key)"
        )
    } else {
        format!(
            "`{name}` is outside any table: put it under {} (a table per command; \
             `skein config example` prints them)",
            owners.join(" or ")
        )
    }
}

/// The tables (`[agent]`…) that have `key` (or its `_` spelling).
fn owners(key: &str, commands: &[(&str, Vec<Key>)]) -> Vec<String> {
    let key = key.replace('-', "_");
    commands
        .iter()
        .filter(|(_, keys)| keys.iter().any(|k| k.name == key))
        .map(|(c, _)| format!("[{c}]"))
        .collect()
}

/// What to say of an unknown key of table `[section]`, with what to write instead.
fn unknown_key(section: &str, key: &str, commands: &[(&str, Vec<Key>)]) -> String {
    let keys = &commands
        .iter()
        .find(|(c, _)| *c == section)
        .expect("a known table")
        .1;
    let hint = "`skein config example` prints every key";
    if key == CONFIG || key == PRINT_CONFIG {
        return format!(
            "`{key}` cannot be set in a config file, only on the command line ({hint})"
        );
    }
    let underscored = key.replace('-', "_");
    if underscored != key && keys.iter().any(|k| k.name == underscored) {
        return format!(
            "unknown key `{key}` in [{section}]: write `{underscored}` (keys are the flags' \
             long names with `_` for `-`)"
        );
    }
    let elsewhere = owners(key, commands);
    if !elsewhere.is_empty() {
        return format!(
            "unknown key `{key}` in [{section}]: `skein {section}` has no such setting; it \
             belongs in {} ({hint} of each table)",
            elsewhere.join(" or ")
        );
    }
    let closest = keys
        .iter()
        .map(|k| (edit_distance(&underscored, &k.name), &k.name))
        .min();
    match closest {
        Some((d, name)) if d <= 2.max(key.len() / 3) => {
            format!("unknown key `{key}` in [{section}]: did you mean `{name}`? ({hint})")
        }
        _ => format!("unknown key `{key}` in [{section}] ({hint} of [{section}])"),
    }
}

/// Levenshtein distance of `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The environment variable's value of `value` for `key` (see [`Setting::value`]), or
/// what is wrong with it.
fn convert(key: &Key, value: &DeValue) -> Result<Option<String>, String> {
    let name = &key.name;
    match key.kind {
        Kind::Switch => {
            let DeValue::Boolean(b) = value else {
                return Err(wrong_type(key, Scalar::Bool.described(), value));
            };
            let default = key.defaults().into_iter().next().unwrap_or_default();
            Ok((b.to_string() != default).then(|| b.to_string()))
        }
        Kind::One(scalar) => {
            let text = scalar_text(scalar, value)
                .ok_or_else(|| wrong_type(key, scalar.described(), value))?;
            check_value(key, scalar, &text)?;
            Ok(Some(text))
        }
        Kind::List(scalar, delimiter) => {
            let DeValue::Array(items) = value else {
                return Err(wrong_type(
                    key,
                    &format!("an array of {}", scalar.plural()),
                    value,
                ));
            };
            let mut texts = Vec::new();
            for item in items.iter() {
                let text = scalar_text(scalar, item.get_ref()).ok_or_else(|| {
                    format!(
                        "the items of `{name}` are each {}, not {}: write e.g. {name} = {}",
                        scalar.described(),
                        type_of(item.get_ref()),
                        key.placeholder()
                    )
                })?;
                if text.contains(delimiter) {
                    return Err(format!(
                        "an item of `{name}` holds {delimiter:?}, which separates the items \
                         of its environment variable {}: make it an item of its own",
                        key.env()
                    ));
                }
                check_value(key, scalar, &text)?;
                texts.push(text);
            }
            Ok((!texts.is_empty()).then(|| texts.join(&delimiter.to_string())))
        }
    }
}

/// `value` as the text clap parses, if it has the TOML type of `scalar` (an integer
/// also does for a number).
fn scalar_text(scalar: Scalar, value: &DeValue) -> Option<String> {
    let integer = |i: &toml::de::DeInteger| {
        i128::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n.to_string())
    };
    match (scalar, value) {
        (Scalar::Bool, DeValue::Boolean(b)) => Some(b.to_string()),
        (Scalar::Int | Scalar::Float, DeValue::Integer(i)) => integer(i),
        (Scalar::Float, DeValue::Float(f)) => f.as_str().parse::<f64>().ok().map(|f| f.to_string()),
        (Scalar::Text, DeValue::String(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// "a string" or "an array"… of a TOML value.
fn type_of(value: &DeValue) -> String {
    let t = value.type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

fn wrong_type(key: &Key, wanted: &str, got: &DeValue) -> String {
    format!(
        "`{}` takes {wanted}, not {}: write e.g. {} = {}",
        key.name,
        type_of(got),
        key.name,
        key.example()
    )
}

/// Runs the flag's own value parser on `text` (of type `scalar`), so that a bad value
/// is reported with its line rather than by the real parse as if it came from the
/// environment.
fn check_value(key: &Key, scalar: Scalar, text: &str) -> Result<(), String> {
    let long = key.arg.get_long().unwrap_or_default();
    if text.contains('\0') {
        return Err(format!(
            "`{}` (--{long}) cannot hold a NUL character",
            key.name
        ));
    }
    let probe = Command::new("probe").no_binary_name(true).arg(
        Arg::new("value")
            .long("value")
            .action(ArgAction::Set)
            .value_parser(key.arg.get_value_parser().clone()),
    );
    match probe.try_get_matches_from([format!("--value={text}")]) {
        Ok(_) => Ok(()),
        Err(e) => {
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.kind().to_string());
            Err(format!(
                "{} is not a valid value of `{}` (--{long}): {reason}",
                scalar.render(text),
                key.name,
            ))
        }
    }
}

/// `s` as a TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as `# ` comment lines of at most about 88 columns.
fn comment(out: &mut String, text: &str) {
    const WIDTH: usize = 86;
    for paragraph in text.trim().lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > WIDTH {
                let _ = writeln!(out, "# {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
}

/// The text of `skein config example`: every table and key, with help, flag,
/// environment variable and default. Loaded as printed it sets every setting to its
/// default, which is the same as no file.
fn example(cli: &Command) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "skein configuration, for `skein server --config FILE` (and `skein agent`, \
         `skein up`).\n\
         Each command reads its own table: [server], [agent] or [up]; keep only those you \
         need. A key is the long name of a flag of that command, with `_` for `-`; a \
         repeatable flag takes an array, a switch true or false.\n\
         Precedence: a flag beats its environment variable (named beside each key), which \
         beats this file, which beats the default. A key commented out has no default.\n\
         `skein server|agent|up --print-config` prints the settings a command would run \
         with and where each comes from.",
    );
    for name in COMMANDS {
        let Some(sub) = cli.find_subcommand(name) else {
            continue;
        };
        out.push('\n');
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        comment(&mut out, &format!("`skein {name}`: {about}"));
        let _ = writeln!(out, "[{name}]");
        for key in keys(sub) {
            out.push('\n');
            let help = key
                .arg
                .get_long_help()
                .or(key.arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            comment(&mut out, &help);
            let how = match key.kind {
                Kind::List(_, '\n') => " (one value per line)",
                Kind::List(_, ',') => " (comma-separated)",
                _ => "",
            };
            let _ = writeln!(
                out,
                "# --{}, ${}{how}",
                key.arg.get_long().unwrap_or_default(),
                key.env()
            );
            let defaults = key.defaults();
            if defaults.is_empty() {
                let _ = writeln!(out, "# {} = {}", key.name, key.placeholder());
            } else {
                let _ = writeln!(out, "{} = {}", key.name, key.render(&defaults));
            }
        }
    }
    out
}

/// The text of `--print-config`: the settings `sub` parsed to, as a config file, each
/// saying where it comes from.
fn effective(
    sub: &Command,
    matches: &ArgMatches,
    file: Option<&FileSettings>,
    applied: &[String],
) -> String {
    let name = sub.get_name();
    let mut out = String::new();
    comment(
        &mut out,
        &format!(
            "The settings `skein {name}` would run with, and where each comes from \
             (--print-config). This is a config file too."
        ),
    );
    let _ = writeln!(out, "[{name}]");
    for key in keys(sub) {
        let id = key.arg.get_id().as_str();
        let env = key.env();
        let from_file = file.and_then(|f| f.setting(&key.name).map(|s| f.at(s.line)));
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => {
                let flag = format!("--{}", key.arg.get_long().unwrap_or_default());
                match &from_file {
                    Some(at) => format!("{flag}, over {at}"),
                    None => flag,
                }
            }
            Some(ValueSource::EnvVariable) if applied.contains(&env) => {
                from_file.clone().unwrap_or_else(|| format!("${env}"))
            }
            Some(ValueSource::EnvVariable) => match &from_file {
                Some(at) => format!("${env}, over {at}"),
                None => format!("${env}"),
            },
            // A switch at its default in the file is not written to the environment.
            Some(ValueSource::DefaultValue) => {
                from_file.clone().unwrap_or_else(|| "default".into())
            }
            _ => from_file.clone().unwrap_or_else(|| "not set".into()),
        };
        let raw: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let set = !raw.is_empty() && matches.value_source(id).is_some();
        if key.arg.is_hide_env_values_set() && set {
            let _ = writeln!(out, "# {} = (set, hidden)  # {source}", key.name);
        } else if set {
            let _ = writeln!(out, "{} = {}  # {source}", key.name, key.render(&raw));
        } else {
            let _ = writeln!(out, "# {} = (not set)", key.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli() -> Command {
        command(crate::Cli::command())
    }

    fn check_text(section: &str, text: &str) -> Result<Vec<Setting>, String> {
        check(&cli(), section, text).map_err(|m| describe(Path::new("f.toml"), &m))
    }

    #[test]
    fn every_flag_has_a_key_and_its_own_environment_variable() {
        let cli = cli();
        for name in COMMANDS {
            let sub = cli.find_subcommand(name).unwrap();
            let keys = keys(sub);
            assert!(keys.len() > 3, "{name} has keys");
            let mut envs: Vec<String> = keys.iter().map(Key::env).collect();
            for (k, env) in keys.iter().zip(&envs) {
                assert!(
                    env.starts_with("SKEIN_"),
                    "{name}.{} has env {env:?}",
                    k.name
                );
            }
            envs.sort();
            let n = envs.len();
            envs.dedup();
            assert_eq!(
                envs.len(),
                n,
                "{name}: two keys share an environment variable"
            );
        }
        cli.debug_assert();
    }

    #[test]
    fn flattened_arguments_are_keys() {
        let cli = cli();
        let agent: Vec<String> = keys(cli.find_subcommand("agent").unwrap())
            .into_iter()
            .map(|k| k.name)
            .collect();
        // From AgentArgs, ConnectArgs (flattened) and CollectArgs (flattened).
        for k in [
            "server",
            "token_file",
            "state_dir",
            "host",
            "path",
            "redact",
        ] {
            assert!(agent.contains(&k.to_string()), "agent lacks {k}: {agent:?}");
        }
        let server: Vec<String> = keys(cli.find_subcommand("server").unwrap())
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert!(server.contains(&"accept_token_file".to_string()));
        assert!(server.contains(&"allowed_hosts".to_string()));
    }

    #[test]
    fn kinds_follow_the_flags_types() {
        let cli = cli();
        let server = cli.find_subcommand("server").unwrap();
        let kind = |n: &str| keys(server).into_iter().find(|k| k.name == n).unwrap().kind;
        assert_eq!(kind("insecure"), Kind::Switch);
        assert_eq!(kind("commit_interval_ms"), Kind::One(Scalar::Int));
        assert_eq!(kind("query_timeout"), Kind::One(Scalar::Float));
        assert_eq!(kind("listen"), Kind::One(Scalar::Text));
        assert_eq!(kind("retain"), Kind::List(Scalar::Text, '\n'));
        assert_eq!(kind("allowed_hosts"), Kind::List(Scalar::Text, ','));
    }

    #[test]
    fn the_example_sets_only_defaults() {
        let text = example(&cli());
        for name in COMMANDS {
            let settings = check_text(name, &text).unwrap();
            assert!(!settings.is_empty());
            let cli = cli();
            let keys = keys(cli.find_subcommand(name).unwrap());
            for s in settings {
                let key = keys.iter().find(|k| k.name == s.key).unwrap();
                let defaults = key.defaults();
                match &s.value {
                    None => assert_eq!(key.kind, Kind::Switch, "{name}.{}", s.key),
                    Some(v) => {
                        let want = defaults.join("\n");
                        // Floats print as `30.0` and come back as `30`.
                        let same = v == &want
                            || v.parse::<f64>().ok() == want.parse::<f64>().ok()
                                && want.parse::<f64>().is_ok();
                        assert!(same, "{name}.{}: {v:?} vs default {want:?}", s.key);
                    }
                }
            }
        }
    }

    #[test]
    fn the_example_names_every_key_once_per_table() {
        let text = example(&cli());
        let cli = cli();
        for name in COMMANDS {
            let table = text.split(&format!("[{name}]\n")).nth(1).unwrap();
            let table = table.split("\n[").next().unwrap();
            for key in keys(cli.find_subcommand(name).unwrap()) {
                let set = format!("\n{} = ", key.name);
                let commented = format!("\n# {} = ", key.name);
                let n = table.matches(&set).count() + table.matches(&commented).count();
                assert_eq!(n, 1, "[{name}] {} in:\n{table}", key.name);
            }
        }
    }

    #[test]
    fn values_become_environment_text() {
        let got = check_text(
            "server",
            "[server]\nlisten = \"127.0.0.1:1\"\ncommit_interval_ms = 0x10\n\
             query_timeout = 2\nsession_hours = 1.5\ninsecure = true\ntls_self_signed = false\n\
             retain = [\"level:debug=3d\", \"container:x=1d\"]\nallowed_hosts = [\"a\", \"b\"]\n\
             cors_origin = []\n",
        )
        .unwrap();
        let value = |k: &str| got.iter().find(|s| s.key == k).unwrap().value.clone();
        assert_eq!(value("listen").as_deref(), Some("127.0.0.1:1"));
        assert_eq!(value("commit_interval_ms").as_deref(), Some("16"));
        assert_eq!(value("query_timeout").as_deref(), Some("2"));
        assert_eq!(value("session_hours").as_deref(), Some("1.5"));
        assert_eq!(value("insecure").as_deref(), Some("true"));
        assert_eq!(value("tls_self_signed"), None);
        assert_eq!(
            value("retain").as_deref(),
            Some("level:debug=3d\ncontainer:x=1d")
        );
        assert_eq!(value("allowed_hosts").as_deref(), Some("a,b"));
        assert_eq!(value("cors_origin"), None);
        let listen = got.iter().find(|s| s.key == "listen").unwrap();
        assert_eq!((listen.env.as_str(), listen.line), ("SKEIN_LISTEN", 2));
        let retain = got.iter().find(|s| s.key == "retain").unwrap();
        assert_eq!(retain.env, "SKEIN_RETAIN");
    }

    #[test]
    fn only_the_commands_table_is_taken_but_every_table_is_checked() {
        let text = "[agent]\nhost = \"n1\"\n[server]\ndata_dir = \"/d\"\n";
        let server = check_text("server", text).unwrap();
        assert_eq!(server.len(), 1);
        assert_eq!(server[0].key, "data_dir");
        let agent = check_text("agent", text).unwrap();
        assert_eq!(agent[0].key, "host");
        let err = check_text("agent", "[server]\nlisen = \"x\"\n").unwrap_err();
        assert!(err.contains("f.toml:2"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_the_closest_key() {
        let err = check_text("server", "# c\n[server]\nlisen = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(
            err,
            "f.toml:3: unknown key `lisen` in [server]: did you mean `listen`? \
             (`skein config example` prints every key)"
        );
        let err = check_text("server", "[server]\ndata-dir = \"/d\"\n").unwrap_err();
        assert!(
            err.starts_with("f.toml:2: ") && err.contains("write `data_dir`"),
            "{err}"
        );
        let err = check_text("server", "[server]\nhost = \"n\"\n").unwrap_err();
        assert!(err.contains("belongs in [agent] or [up]"), "{err}");
        let err = check_text("server", "[server]\nzzzzzz = 1\n").unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        let err = check_text("server", "[server]\nconfig = \"x.toml\"\n").unwrap_err();
        assert!(err.contains("cannot be set in a config file"), "{err}");
    }

    #[test]
    fn keys_outside_a_table_and_unknown_tables_are_mistakes() {
        let err = check_text("server", "listen = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(
            err.starts_with(
                "f.toml:1: `listen` is outside any table: put it under [server] or [up]"
            ),
            "{err}"
        );
        let err = check_text("server", "\n[servre]\n").unwrap_err();
        assert!(err.starts_with("f.toml:2: unknown table `servre`"), "{err}");
        let err = check_text("server", "server = 1\n").unwrap_err();
        assert!(err.contains("must be a table"), "{err}");
    }

    #[test]
    fn a_wrong_type_or_value_is_named_with_its_line() {
        let err = check_text("server", "[server]\n\ncommit_interval_ms = \"fast\"\n").unwrap_err();
        assert_eq!(
            err,
            "f.toml:3: `commit_interval_ms` takes an integer, not a string: write e.g. \
             commit_interval_ms = 1000"
        );
        let err = check_text("server", "[server]\ninsecure = \"yes\"\n").unwrap_err();
        assert!(
            err.contains("`insecure` takes a boolean (true or false), not a string"),
            "{err}"
        );
        let err = check_text("server", "[server]\nretain = \"level:debug=3d\"\n").unwrap_err();
        assert!(
            err.contains("`retain` takes an array of strings, not a string"),
            "{err}"
        );
        let err = check_text("server", "[server]\nretain = [1]\n").unwrap_err();
        assert!(
            err.contains("the items of `retain` are each a string, not an integer"),
            "{err}"
        );
        let err = check_text("server", "[server]\nlisten = \"here\"\n").unwrap_err();
        assert!(
            err.starts_with("f.toml:2: \"here\" is not a valid value of `listen` (--listen): "),
            "{err}"
        );
        let err = check_text("server", "[server]\nmax_body_bytes = -1\n").unwrap_err();
        assert!(
            err.starts_with("f.toml:2: -1 is not a valid value of `max_body_bytes`"),
            "{err}"
        );
        let err = check_text("server", "[server]\nallowed_hosts = [\"a,b\"]\n").unwrap_err();
        assert!(err.contains("holds ','"), "{err}");
    }

    #[test]
    fn every_mistake_is_listed_in_line_order() {
        let err = check_text(
            "server",
            "[server]\nzz = 1\nlisen = 2\n[agent]\nhots = \"x\"\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("the config file f.toml has 3 mistakes:"),
            "{err}"
        );
        let lines: Vec<usize> = err
            .lines()
            .skip(1)
            .map(|l| l.trim().split(':').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(lines, vec![2, 3, 5]);
    }

    #[test]
    fn bad_toml_names_its_line() {
        let err = check_text("server", "[server]\nlisten = \n").unwrap_err();
        assert!(err.starts_with("f.toml:2: this is not valid TOML"), "{err}");
    }

    #[test]
    fn quoting_and_rendering() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(Scalar::Float.render("30"), "30.0");
        assert_eq!(Scalar::Int.render("1000"), "1000");
        assert_eq!(Scalar::Text.render("x"), "\"x\"");
        assert_eq!(edit_distance("lisen", "listen"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
