"""Plausible, fictional person names, derived deterministically from a key.

Real team names come from the fixture data; people are invented so the demo never
attributes words to a real person.
"""

from __future__ import annotations

from fanbase.demo.rng import py_rng

_FIRST = {
    "de": ("Lukas", "Jonas", "Felix", "Niklas", "Tim", "Jan", "Moritz", "Paul", "Leon", "Elias"),
    "it": ("Marco", "Luca", "Matteo", "Davide", "Andrea", "Simone", "Paolo", "Nicolo", "Dario"),
    "es": ("Pablo", "Alvaro", "Sergio", "Diego", "Javier", "Raul", "Iker", "Unai", "Adrian"),
    "en": ("Jack", "Harry", "Oliver", "George", "Callum", "Mason", "Ryan", "Lewis", "Owen"),
    "pt": ("Joao", "Pedro", "Tiago", "Rafael", "Bruno", "Thiago", "Caio", "Vitor", "Andre"),
    "fr": ("Hugo", "Theo", "Lucas", "Enzo", "Mathis", "Yanis", "Noah", "Kylian", "Rayan"),
    "nl": ("Daan", "Sem", "Milan", "Bram", "Thijs", "Jesse", "Ruben", "Lars", "Stijn"),
    "tr": ("Emre", "Burak", "Arda", "Kerem", "Cengiz", "Yusuf", "Mert", "Ozan", "Baris"),
    "ar": ("Youssef", "Karim", "Amine", "Omar", "Hamza", "Riyad", "Sofiane", "Nabil", "Ilyes"),
    "us": ("Tyler", "Jalen", "Brandon", "Marcus", "Darius", "Trey", "Cole", "Austin", "Caleb"),
    "ja": ("Haruto", "Sota", "Ren", "Yuto", "Daiki", "Kaito", "Takumi", "Riku", "Shota"),
}
_LAST_SYLLABLES = {
    "de": (
        ("Bau", "Kess", "Hoff", "Ried", "Brand", "Wolt", "Stein", "Lind"),
        ("er", "ler", "mann", "berg", "ner", "inger"),
    ),
    "it": (
        ("Ross", "Bian", "Fer", "Gal", "Cont", "Mar", "Ricc", "Lomb"),
        ("i", "etti", "ari", "ini", "oni", "elli"),
    ),
    "es": (
        ("Gar", "Mart", "Lop", "Fern", "Alon", "Nav", "Ortiz", "Ram"),
        ("cia", "inez", "ez", "andez", "so", "arro"),
    ),
    "en": (
        ("Thomp", "Wal", "Rob", "Har", "Whit", "Brad", "Cart", "Fletch"),
        ("son", "ker", "ley", "ford", "ton", "well"),
    ),
    "pt": (
        ("Sil", "Sou", "Olive", "Per", "Cos", "Alme", "Ferr", "Carv"),
        ("va", "sa", "ira", "eira", "ta", "ida"),
    ),
    "fr": (
        ("Dub", "Mor", "Lef", "Gir", "Ber", "Fourn", "Mich", "Rouss"),
        ("ois", "eau", "evre", "ard", "nard", "el"),
    ),
    "nl": (("van den ", "de ", "van ", "ter "), ("Berg", "Vries", "Dijk", "Haar", "Brink", "Wal")),
    "tr": (
        ("Yil", "Kay", "Demi", "Ars", "Cel", "Ozt", "Sah", "Akt"),
        ("maz", "a", "r", "lan", "ik", "urk"),
    ),
    "ar": (("Ben", "El", "Bou", "Ham"), ("ali", "amrani", "zidi", "dani", "souri", "hadi")),
    "us": (
        ("Jack", "Will", "Dav", "John", "Brook", "Carr", "Full", "Mill"),
        ("son", "iams", "is", "ston", "s", "er"),
    ),
    "ja": (
        ("Taka", "Yama", "Naka", "Suzu", "Kobaya", "Wata", "Matsu", "Ino"),
        ("hashi", "moto", "mura", "ki", "shi", "ue"),
    ),
}


def person_name(key: str, culture: str) -> str:
    """A 'First Last' name that depends only on the key and the naming culture."""
    culture = culture if culture in _FIRST else "en"
    rng = py_rng(0, "person", key)
    first = rng.choice(_FIRST[culture])
    heads, tails = _LAST_SYLLABLES[culture]
    return f"{first} {rng.choice(heads)}{rng.choice(tails)}"


def squad(team: str, culture: str, size: int = 5) -> tuple[str, ...]:
    """The team's players that fans talk about, distinct within the squad."""
    names: list[str] = []
    attempt = 0
    while len(names) < size:
        candidate = person_name(f"{team}#{attempt}", culture)
        attempt += 1
        if candidate not in names:
            names.append(candidate)
    return tuple(names)
