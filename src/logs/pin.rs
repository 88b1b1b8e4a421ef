//! `-p N`: a window of the last N lines redrawn in place as lines arrive.
//!
//! The window is drawn below where the command started, each line cut to the terminal
//! width so nothing wraps, with a status line under it for reconnect notices. It
//! follows terminal resizes; Ctrl-C (or `q`) leaves the last window on screen with
//! the cursor below it.

use super::render::Style;
use super::Event;
use anyhow::Result;
use crossterm::{cursor, event, execute, queue, style, terminal};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

/// Restores the terminal however the view ends.
struct Raw;

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(std::io::stdout(), cursor::Show);
    }
}

/// Reads keys and resizes into the event channel.
fn watch_terminal(tx: SyncSender<Event>) {
    std::thread::spawn(move || loop {
        let ev = match event::read() {
            Ok(ev) => ev,
            Err(_) => return,
        };
        let out = match ev {
            event::Event::Key(k)
                if k.kind == event::KeyEventKind::Press
                    && (k.code == event::KeyCode::Char('q')
                        || (k.code == event::KeyCode::Char('c')
                            && k.modifiers.contains(event::KeyModifiers::CONTROL))) =>
            {
                Event::Quit
            }
            event::Event::Resize(..) => Event::Resize,
            _ => continue,
        };
        if tx.send(out).is_err() {
            return;
        }
    });
}

/// Cuts `s` to `width` characters, turning tabs and control characters into spaces.
fn fit(s: &str, width: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(width)
        .collect()
}

/// Runs the view until the stream ends (true) or the user quits (false).
pub fn run(n: usize, mut style: Style, rx: Receiver<Event>, tx: SyncSender<Event>) -> Result<bool> {
    terminal::enable_raw_mode()?;
    let _raw = Raw;
    watch_terminal(tx);
    let mut out = std::io::stdout();
    execute!(out, cursor::Hide)?;
    let mut lines: VecDeque<super::render::Line> = VecDeque::with_capacity(n);
    let mut status = String::new();
    let mut drawn = 0u16;
    let mut ended = false;
    loop {
        // Take everything waiting, then draw once.
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => break,
        };
        let mut quit = false;
        for ev in std::iter::once(first).chain(rx.try_iter()) {
            match ev {
                Event::Record(r) => {
                    if lines.len() == n {
                        lines.pop_front();
                    }
                    lines.push_back(style.line(&r));
                }
                Event::Notice(t) => status = format!("skein: {t}"),
                Event::Resize => {}
                Event::End => ended = true,
                Event::Quit => quit = true,
            }
        }
        let (cols, rows) = terminal::size().unwrap_or((80, 24));
        let width = usize::from(cols.max(2)) - 1;
        // The window plus its status line must fit on the screen.
        let height = n.min(usize::from(rows.saturating_sub(2)).max(1));
        if drawn > 0 {
            queue!(out, cursor::MoveUp(drawn))?;
        }
        queue!(
            out,
            cursor::MoveToColumn(0),
            terminal::Clear(terminal::ClearType::FromCursorDown)
        )?;
        let skip = lines.len().saturating_sub(height);
        let mut count = 0u16;
        for l in lines.iter().skip(skip) {
            let prefix = fit(&l.prefix, width);
            let body = fit(&l.body, width - prefix.chars().count());
            match l.colour {
                Some(c) if !prefix.is_empty() => queue!(
                    out,
                    style::SetForegroundColor(style::Color::AnsiValue(ansi(c))),
                    style::Print(prefix),
                    style::ResetColor
                )?,
                _ => queue!(out, style::Print(prefix))?,
            }
            queue!(out, style::Print(body), style::Print("\r\n"))?;
            count += 1;
        }
        queue!(
            out,
            style::SetAttribute(style::Attribute::Dim),
            style::Print(fit(&status, width)),
            style::SetAttribute(style::Attribute::Reset)
        )?;
        out.flush()?;
        drawn = count;
        if quit || ended {
            break;
        }
    }
    queue!(out, style::Print("\r\n"))?;
    out.flush()?;
    Ok(ended)
}

/// The 256-colour index of an SGR foreground code (31..=36).
fn ansi(sgr: u8) -> u8 {
    sgr - 30
}
