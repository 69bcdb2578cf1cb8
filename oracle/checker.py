from dataclasses import dataclass
@dataclass(frozen=True)
class Violation:
    where: str
    what: str
def check(s, r): return []
