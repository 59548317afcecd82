"""The man page lltune(1) and the bash completion, generated from the argument parser.

    python3 -m lltune.cli.manpage > lltune.1
    python3 -m lltune.cli.manpage --bash-completion > lltune

Both are built from lltune.cli.main.build_parser(), so every subcommand and option the CLI has is
documented and completed, and from lltune.common.errors.EXIT_CODES_HELP for EXIT STATUS. The output
is deterministic: no date, no terminal width, nothing from the environment (the RPM build runs
this and must give the same bytes every time).
"""

import argparse
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from lltune import __version__
from lltune.cli.main import DESCRIPTION, build_parser
from lltune.common.errors import EXIT_CODES_HELP

# What the parser cannot say: where things live (DESIGN.md, "Paths"; the RPM's layout).
FILES = (
    ("/etc/lltune/", "the configuration directory (the package ships no config: "
                     "`lltune gen-config` writes one)"),
    ("/etc/tuned/lltune/", "the host profile lltune renders, in tuned's user profile directory "
                           "(/etc/tuned/profiles/lltune/ where tuned reads profiles from "
                           "/etc/tuned/profiles, as on RHEL 10, or where tuned-main.conf's "
                           "profile_dirs says); tuned prefers it over the base profile of the "
                           "same name"),
    ("/usr/lib/tuned/lltune/", "the base profile `lltune` shipped by the package "
                               "(/usr/lib/tuned/profiles/lltune/ in RHEL 10's layout)"),
    ("/etc/tuned/lltune-variables.conf", "variables of the base profile when it is used on "
                                         "its own (`tuned-adm profile lltune`): "
                                         "isolated_cores"),
    ("/usr/libexec/lltune/", "helpers the profile's [script] entries and the units run"),
    ("/var/lib/lltune/", "state and backups (mode 0700; ~/.lltune/ when not root)"),
    ("/run/lltune.lock", "taken while a command changes the host"),
)

SEE_ALSO = (("tuned-adm", 8), ("tuned", 8), ("tuned.conf", 5), ("systemctl", 1))


# --- the parser, walked -------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser
                 ) -> List[Tuple[str, argparse.ArgumentParser, str]]:
    """[(name, subparser, one-line help)] in the order the CLI defines them."""
    result = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                result.append((name, sub, helps.get(name, "")))
    return result


def _options(parser: argparse.ArgumentParser) -> List[argparse.Action]:
    """The parser's arguments worth documenting: everything but -h and the subcommands."""
    return [action for action in parser._actions
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
            and action.help != argparse.SUPPRESS]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    if action.choices is not None:
        return "{%s}" % ",".join(str(choice) for choice in action.choices)
    return action.dest.upper() if action.option_strings else action.dest


def _long_name(action: argparse.Action) -> str:
    longs = [name for name in action.option_strings if name.startswith("--")]
    return longs[0] if longs else action.option_strings[0]


def _help(action: argparse.Action, prog: str) -> str:
    """The help text with argparse's %(default)s style fields filled in, as --help shows it."""
    text = action.help or ""
    if "%" not in text:
        return text
    params = dict(vars(action), prog=prog)
    for name in list(params):
        if params[name] is argparse.SUPPRESS:
            del params[name]
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(choice) for choice in params["choices"])
    return text % params


def _synopsis_items(parser: argparse.ArgumentParser) -> List[Tuple[bool, str]]:
    """[(required, text)]: each argument, or mutually exclusive group, as in the usage line.

    text is plain (no roff): "--output FILE", "--root DIR | --from BUNDLE", "COMMAND".
    """
    groups = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            groups[id(action)] = group
    items: List[Tuple[bool, str]] = []
    done = set()
    for action in _options(parser):
        if id(action) in done:
            continue
        group = groups.get(id(action))
        members = [member for member in _options(parser)
                   if group is not None and groups.get(id(member)) is group]
        if len(members) > 1:
            done.update(id(member) for member in members)
            text = " | ".join(_one_synopsis(member) for member in members)
            items.append((bool(group.required), text))
            continue
        done.add(id(action))
        if action.option_strings:
            items.append((bool(action.required), _one_synopsis(action)))
        else:
            optional = action.nargs in ("?", "*")
            text = _metavar(action) + (" ..." if action.nargs in ("*", "+") else "")
            items.append((not optional, text))
    return items


def _one_synopsis(action: argparse.Action) -> str:
    name = _long_name(action)
    return name + (" " + _metavar(action) if _takes_value(action) else "")


# --- roff ---------------------------------------------------------------------------------

def _roff_text(text: str) -> str:
    """Plain text to roff: escapes, `code` in bold, no line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    lines = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _roff_synopsis(text: str) -> str:
    """An option or argument in a synopsis: names bold, metavars italic."""
    words = []
    for word in text.split(" "):
        if word in ("|", "..."):
            words.append(word)
        elif word.startswith("-"):
            words.append("\\fB%s\\fR" % word.replace("-", "\\-"))
        else:
            words.append("\\fI%s\\fR" % word.replace("-", "\\-"))
    return " ".join(words)


def _roff_usage(prog: str, items: Sequence[Tuple[bool, str]]) -> List[str]:
    lines = ['.SY "%s"' % prog.replace("-", "\\-")]
    for required, text in items:
        body = _roff_synopsis(text)
        lines.append(body if required else "[%s]" % body)
    lines.append(".YS")
    return lines


def _roff_paragraphs(text: str) -> List[str]:
    lines = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        if lines:
            lines.append(".PP")
        lines.append(_roff_text(" ".join(paragraph.split())))
    return lines


def _roff_option(action: argparse.Action, prog: str) -> List[str]:
    names = []
    for name in action.option_strings or [_metavar(action)]:
        if action.option_strings:
            item = "\\fB%s\\fR" % name.replace("-", "\\-")
            if _takes_value(action):
                item += " \\fI%s\\fR" % _metavar(action).replace("-", "\\-")
        else:
            item = "\\fI%s\\fR" % name.replace("-", "\\-")
        names.append(item)
    help_text = _help(action, prog)
    if action.choices is not None and not action.option_strings:
        help_text = (help_text + " " if help_text else "") + "One of: %s." % ", ".join(
            str(choice) for choice in action.choices)
    extra = []
    if action.required:
        extra.append("Required.")
    if (action.default not in (None, False, argparse.SUPPRESS) and _takes_value(action)
            and "default" not in help_text):
        extra.append("Default: %s." % action.default)
    help_text = help_text.strip()
    if help_text and extra and not help_text.endswith((".", "!", "?")):
        help_text += "."
    help_text = " ".join([help_text] + extra if help_text else extra)
    return [".TP", ", ".join(names), _roff_text(help_text or "(no description)")]


def exit_codes() -> List[Tuple[str, str]]:
    """[(code, meaning)] parsed from EXIT_CODES_HELP: the one list --help shows too."""
    codes = []
    for line in EXIT_CODES_HELP.splitlines():
        match = re.match(r"\s*(\d+)\s+(.*\S)", line)
        if match:
            codes.append((match.group(1), match.group(2)))
    return codes


def render_manpage(parser: Optional[argparse.ArgumentParser] = None) -> str:
    parser = parser or build_parser()
    prog = parser.prog
    summary = DESCRIPTION.strip().split("\n")[0].rstrip(".")
    summary = summary[0].lower() + summary[1:]
    commands = _subcommands(parser)
    out = [
        '.\\" Generated by `python3 -m lltune.cli.manpage` from lltune.cli.main.build_parser():',
        '.\\" edit the parser, not this file.',
        '.TH %s 1 "" "%s %s" "User Commands"' % (prog.upper(), prog, __version__),
        ".SH NAME",
        "%s \\- %s" % (prog, _roff_text(summary)),
        ".SH SYNOPSIS",
    ]
    out += _roff_usage(prog, _synopsis_items(parser) + [(True, "COMMAND"),
                                                         (False, "OPTIONS ...")])
    for name, sub, _ in commands:
        out += _roff_usage("%s %s" % (prog, name), _synopsis_items(sub))
    out += [".SH DESCRIPTION"] + _roff_paragraphs(DESCRIPTION)
    out += [".SH OPTIONS"]
    for action in _options(parser):
        out += _roff_option(action, prog)
    out += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR",
            "Show the help of lltune, or of a command after its name, and exit."]
    out += [".SH COMMANDS"]
    for name, sub, short in commands:
        out += [".SS %s" % name.replace("-", "\\-")]
        out += _roff_paragraphs(sub.description or short or name)
        for action in _options(sub):
            out += _roff_option(action, "%s %s" % (prog, name))
        if sub.epilog and sub.epilog.strip() != EXIT_CODES_HELP.strip():
            out += [".PP"] + _roff_paragraphs(sub.epilog)
    out += [".SH EXIT STATUS",
            "The same for every command:"]
    for code, meaning in exit_codes():
        out += [".TP", ".B %s" % code, _roff_text(meaning[0].upper() + meaning[1:] + ".")]
    out += [".SH FILES"]
    for path, meaning in FILES:
        out += [".TP", ".I %s" % _roff_text(path), _roff_text(meaning[0].upper() + meaning[1:]
                                                              + ".")]
    out += [".SH SEE ALSO"]
    out.append(",\n".join(".BR %s (%d)" % (page, section) for page, section in SEE_ALSO))
    return "\n".join(out) + "\n"


# --- bash completion ----------------------------------------------------------------------

def _shell_words(words: Sequence[str]) -> str:
    for word in words:
        if not re.fullmatch(r"[A-Za-z0-9_.,:+/=@%-]+", word):
            raise ValueError("not safe in a completion word list: %r" % word)
    return " ".join(words)


def _value_completions(parser: argparse.ArgumentParser) -> Dict[str, str]:
    """{option name: compgen arguments} for the options that take a value."""
    result = {}
    for action in _options(parser):
        if not action.option_strings or not _takes_value(action):
            continue
        metavar = _metavar(action).upper()
        if action.choices is not None:
            spec = "-W '%s'" % _shell_words([str(choice) for choice in action.choices])
        elif "DIR" in metavar:
            spec = "-d"
        elif any(word in metavar for word in ("FILE", "PATH", "BUNDLE")):
            spec = "-f"
        else:
            spec = ""  # a number, a name: nothing sensible to offer
        for name in action.option_strings:
            result[name] = spec
    return result


def _positional_choices(parser: argparse.ArgumentParser) -> List[str]:
    words: List[str] = []
    for action in _options(parser):
        if not action.option_strings and action.choices is not None:
            words += [str(choice) for choice in action.choices]
    return words


def _option_names(parser: argparse.ArgumentParser) -> List[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        names += action.option_strings
    return names


def _case_block(indent: str, cases: Dict[str, str]) -> List[str]:
    lines = []
    for names, body in cases.items():
        lines.append("%s%s)" % (indent, names))
        lines.append("%s    %s" % (indent, body))
        lines.append("%s    ;;" % indent)
    return lines


def render_bash_completion(parser: Optional[argparse.ArgumentParser] = None) -> str:
    parser = parser or build_parser()
    prog = parser.prog
    function = "_" + re.sub(r"[^A-Za-z0-9_]", "_", prog)
    commands = _subcommands(parser)
    global_values = _value_completions(parser)
    out = [
        "# bash completion for %s(1)" % prog,
        "# Generated by `python3 -m lltune.cli.manpage --bash-completion` from "
        "lltune.cli.main.build_parser():",
        "# edit the parser, not this file.",
        "",
        "%s()" % function,
        "{",
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
        "    local command='' i",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case ${COMP_WORDS[i]} in",
        "            %s) command=${COMP_WORDS[i]}; break ;;"
        % "|".join(name for name, _, _ in commands),
        "        esac",
        "    done",
        "    COMPREPLY=()",
        "    if [[ -z $command ]]; then",
    ]
    if global_values:
        out.append("        case $prev in")
        out += _case_block("            ", {
            "|".join(sorted(names)): _reply(spec)
            for spec, names in _group_by_spec(global_values).items()})
        out.append("        esac")
    out += [
        "        if [[ $cur == -* ]]; then",
        "            COMPREPLY=($(compgen -W '%s' -- \"$cur\"))"
        % _shell_words(_option_names(parser)),
        "        else",
        "            COMPREPLY=($(compgen -W '%s' -- \"$cur\"))"
        % _shell_words([name for name, _, _ in commands]),
        "        fi",
        "        return",
        "    fi",
        "    case $command in",
    ]
    for name, sub, _ in commands:
        out.append("        %s)" % name)
        values = _value_completions(sub)
        if values:
            out.append("            case $prev in")
            out += _case_block("                ", {
                "|".join(sorted(names)): _reply(spec)
                for spec, names in _group_by_spec(values).items()})
            out.append("            esac")
        out.append("            if [[ $cur == -* ]]; then")
        out.append("                COMPREPLY=($(compgen -W '%s' -- \"$cur\"))"
                   % _shell_words(_option_names(sub)))
        positional = _positional_choices(sub)
        if positional:
            out.append("            else")
            out.append("                COMPREPLY=($(compgen -W '%s' -- \"$cur\"))"
                       % _shell_words(positional))
        out.append("            fi")
        out.append("            ;;")
    out += [
        "    esac",
        "}",
        "complete -F %s %s" % (function, prog),
    ]
    return "\n".join(out) + "\n"


def _reply(spec: str) -> str:
    """The shell that answers for an option's value (spec: compgen arguments, or empty)."""
    if not spec:
        return "return"
    prefix = "compopt -o filenames 2>/dev/null; " if spec in ("-f", "-d") else ""
    return "%sCOMPREPLY=($(compgen %s -- \"$cur\")); return" % (prefix, spec)


def _group_by_spec(values: Dict[str, str]) -> Dict[str, List[str]]:
    grouped: Dict[str, List[str]] = {}
    for name, spec in values.items():
        grouped.setdefault(spec, []).append(name)
    return dict(sorted(grouped.items()))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m lltune.cli.manpage",
        description="Print the man page lltune(1) in roff, or the bash completion script.")
    parser.add_argument("--bash-completion", action="store_true",
                        help="print the bash completion script instead of the man page")
    args = parser.parse_args(argv)
    text = render_bash_completion() if args.bash_completion else render_manpage()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
