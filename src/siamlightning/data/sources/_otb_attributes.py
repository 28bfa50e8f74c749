"""Per-sequence attributes of the OTB100 targets (OTB2013: its first 51), as OTB lists them.

Source: the benchmark's own sequence configuration (``MakeSequenceConfigVer10.m`` and
``...Ver11.m`` of the official tracker_benchmark toolkit); names follow this package's OTB reader
(``Jogging-1``, ``Skating2-2``, ``Human4-2``).
"""

from __future__ import annotations

OTB_ATTRIBUTE_NAMES: dict[str, str] = {
    "IV": "Illumination Variation",
    "SV": "Scale Variation",
    "OCC": "Occlusion",
    "DEF": "Deformation",
    "MB": "Motion Blur",
    "FM": "Fast Motion",
    "IPR": "In-Plane Rotation",
    "OPR": "Out-of-Plane Rotation",
    "OV": "Out-of-View",
    "BC": "Background Clutters",
    "LR": "Low Resolution",
}

_TABLE = """
Basketball IV OPR OCC DEF BC
Bolt OPR OCC DEF IPR
Boy OPR SV MB FM IPR
Car4 IV SV
CarDark IV BC
CarScale OPR SV OCC FM IPR
Coke IV OPR OCC FM IPR
Couple OPR SV DEF FM BC
Crossing SV DEF BC
David IV OPR SV OCC DEF MB IPR
David2 OPR IPR
David3 OPR OCC DEF BC
Deer MB FM IPR BC
Dog1 OPR SV IPR
Doll IV OPR SV OCC IPR
Dudek OPR SV OCC DEF FM IPR OV BC
FaceOcc1 OCC
FaceOcc2 IV OPR OCC IPR
Fish IV
FleetFace OPR SV DEF MB FM IPR
Football OPR OCC IPR BC
Football1 OPR IPR BC
Freeman1 OPR SV IPR
Freeman3 OPR SV IPR LR
Freeman4 OPR SV OCC IPR LR
Girl OPR SV OCC IPR
Ironman IV OPR SV OCC MB FM IPR OV BC
Jogging-1 OPR OCC DEF
Jogging-2 OPR OCC DEF
Jumping MB FM
Lemming IV OPR SV OCC FM OV
Liquor IV OPR SV OCC MB FM OV BC
Matrix IV OPR SV OCC FM IPR BC
Mhyang IV OPR DEF BC
MotorRolling IV SV MB FM IPR BC
MountainBike OPR IPR BC
Shaking IV OPR SV IPR BC
Singer1 IV OPR SV OCC
Singer2 IV OPR DEF IPR BC
Skating1 IV OPR SV OCC DEF BC
Skiing IV OPR SV DEF IPR LR
Soccer IV OPR SV OCC MB FM IPR BC
Subway OCC DEF BC
Suv OCC IPR OV
Sylvester IV OPR IPR
Tiger1 IV OPR OCC DEF MB FM IPR
Tiger2 IV OPR OCC DEF MB FM IPR OV
Trellis IV OPR SV IPR BC
Walking SV OCC DEF LR
Walking2 SV OCC
Woman IV OPR SV OCC DEF MB FM
Biker OPR SV OCC MB FM OV LR
Bird1 DEF FM OV
BlurBody SV DEF MB FM IPR
BlurCar2 SV MB FM
BlurFace MB FM IPR
BlurOwl SV MB FM IPR
Car1 IV SV BC LR
Crowds IV DEF BC
Diving SV DEF IPR
DragonBaby OPR SV OCC MB FM IPR OV
Human3 OPR SV OCC DEF BC
Human4-2 IV SV OCC DEF
Human6 OPR SV OCC DEF FM OV
Human9 IV SV DEF MB FM
Jump OPR SV OCC DEF MB IPR
Panda OPR SV OCC DEF IPR OV LR
RedTeam OPR SV OCC IPR LR
Board OPR SV MB FM OV BC
Box IV OPR SV OCC MB IPR OV BC
ClifBar SV OCC MB FM IPR OV BC
Rubik OPR SV OCC IPR
Skating2-1 OPR SV OCC DEF FM
Skating2-2 OPR SV OCC DEF FM
Surfer OPR SV FM IPR LR
Toy OPR SV FM IPR
Twinnings OPR SV
Vase SV FM IPR
Bird2 OPR OCC DEF FM IPR
BlurCar1 MB FM
BlurCar3 MB FM
BlurCar4 MB FM
Bolt2 DEF BC
Car2 IV BC
Car24 IV SV BC
Coupon OCC BC
Dancer OPR SV DEF IPR
Dancer2 DEF
Dog OPR SV DEF
Girl2 OPR SV OCC DEF MB
Gym OPR SV DEF IPR
Human2 IV OPR SV MB
Human5 SV OCC DEF
Human7 IV SV OCC DEF MB FM
Human8 IV SV DEF
KiteSurf IV OPR OCC IPR
Man IV
Skater OPR SV DEF IPR
Skater2 OPR SV DEF FM IPR
Trans IV SV OCC DEF
"""

OTB_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    row.split()[0]: tuple(row.split()[1:]) for row in _TABLE.strip().splitlines()
}


def otb_attributes(name: str) -> tuple[str, ...] | None:
    """Attribute codes of OTB sequence ``name`` (case-insensitive), or None when not an OTB one."""
    return _LOWER.get(name.lower())


_LOWER = {k.lower(): v for k, v in OTB_ATTRIBUTES.items()}
