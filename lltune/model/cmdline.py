"""The kernel command line's grammar, as the kernel reads it (init/main.c, lib/cmdline.c):
tokens split on whitespace outside double quotes, key=value, "--" ending the kernel's part, and
isolcpus= flags before its CPU list. The scanner, the plan and audit read tokens through here.
"""

from typing import List, Tuple

ISOLCPUS_FLAGS = ("nohz", "domain", "managed_irq")


def split_cmdline(text: str) -> List[str]:
    """Split like the kernel's next_arg(): whitespace separates, double quotes group."""
    tokens = []
    current = []
    in_quote = False
    for char in text:
        if char == '"':
            in_quote = not in_quote
        if char.isspace() and not in_quote:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def token_key_value(token: str) -> Tuple[str, str]:
    """Split one token: key="a b" gives ("key", "a b"); a bare flag has the value ""."""
    key, sep, value = token.partition("=")
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return key, value if sep else ""


def kernel_tokens(tokens: List[str]) -> List[str]:
    """The tokens the kernel keeps; those after "--" go to init."""
    return tokens[:tokens.index("--")] if "--" in tokens else tokens


def token_key(token: str) -> str:
    """The parameter name of a token ("isolcpus" for "isolcpus=2-5")."""
    return token.partition("=")[0]


def isolcpus_parts(value: str) -> Tuple[List[str], str]:
    """"managed_irq,domain,2-5" -> (["managed_irq", "domain"], "2-5")."""
    items = value.split(",")
    flags = []
    while items and items[0] in ISOLCPUS_FLAGS:
        flags.append(items.pop(0))
    return flags, ",".join(items)
