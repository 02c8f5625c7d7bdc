"""Catalogue tables: real device models, OS releases, locales, carriers, app and SDK versions.

Weights are rough market shares (2024-2025 public trackers, rounded); they only need to look like
a real audience. Model codes are the `Build.MODEL` values the phones report; device names are the
marketing names Android puts in `Settings.Global.device_name`. Tablets have tables of their own
(`*_TABLETS`), in the same shapes as the phone tables.
"""

from __future__ import annotations

# Android API level -> (Build.VERSION.RELEASE, name of the Build.VERSION_CODES field)
ANDROID_RELEASES: dict[int, tuple[str, str]] = {
    28: ("9", "P"),
    29: ("10", "Q"),
    30: ("11", "R"),
    31: ("12", "S"),
    32: ("12", "S_V2"),
    33: ("13", "TIRAMISU"),
    34: ("14", "UPSIDE_DOWN_CAKE"),
    35: ("15", "VANILLA_ICE_CREAM"),
    36: ("16", "BAKLAVA"),
}

# (Build.MANUFACTURER, Build.MODEL, device name, API levels it runs, weight)
ANDROID_MODELS: tuple[tuple[str, str, str, tuple[int, ...], float], ...] = (
    ("samsung", "SM-S928B", "Galaxy S24 Ultra", (34, 35, 36), 3.0),
    ("samsung", "SM-S921B", "Galaxy S24", (34, 35, 36), 2.5),
    ("samsung", "SM-S918B", "Galaxy S23 Ultra", (33, 34, 35), 3.0),
    ("samsung", "SM-S911B", "Galaxy S23", (33, 34, 35), 2.5),
    ("samsung", "SM-A556B", "Galaxy A55 5G", (34, 35), 3.0),
    ("samsung", "SM-A546B", "Galaxy A54 5G", (33, 34, 35), 4.0),
    ("samsung", "SM-A256B", "Galaxy A25 5G", (34, 35), 3.0),
    ("samsung", "SM-A155F", "Galaxy A15", (34, 35), 4.0),
    ("samsung", "SM-A145R", "Galaxy A14", (33, 34), 3.0),
    ("samsung", "SM-A525F", "Galaxy A52", (31, 33, 34), 2.0),
    ("samsung", "SM-G991B", "Galaxy S21 5G", (31, 33, 34), 2.0),
    ("samsung", "SM-A127F", "Galaxy A12", (30, 31, 33), 1.5),
    ("Xiaomi", "23129RAA4G", "Redmi Note 13", (33, 34), 3.0),
    ("Xiaomi", "2312DRA50G", "Redmi Note 13 Pro 5G", (33, 34, 35), 2.0),
    ("Xiaomi", "23053RN02Y", "Redmi 12", (33, 34), 2.5),
    ("Xiaomi", "2201117TY", "Redmi Note 11", (30, 31, 33), 2.5),
    ("Xiaomi", "M2101K6G", "Redmi Note 10 Pro", (30, 31, 33), 1.5),
    ("Xiaomi", "2211133G", "Xiaomi 13", (33, 34, 35), 1.0),
    ("Xiaomi", "23127PN0CG", "Xiaomi 14", (34, 35), 1.0),
    ("Google", "Pixel 9", "Pixel 9", (34, 35, 36), 1.5),
    ("Google", "Pixel 8", "Pixel 8", (34, 35, 36), 1.5),
    ("Google", "Pixel 8a", "Pixel 8a", (34, 35, 36), 1.0),
    ("Google", "Pixel 7a", "Pixel 7a", (33, 34, 35, 36), 1.0),
    ("Google", "Pixel 7", "Pixel 7", (33, 34, 35, 36), 1.0),
    ("Google", "Pixel 6a", "Pixel 6a", (32, 33, 34, 35), 0.8),
    ("OPPO", "CPH2529", "OPPO A98 5G", (33, 34), 1.2),
    ("OPPO", "CPH2531", "OPPO Reno10 5G", (33, 34, 35), 1.0),
    ("OPPO", "CPH2477", "OPPO A17", (31, 33), 1.0),
    ("motorola", "moto g84 5G", "moto g84 5G", (33, 34), 1.2),
    ("motorola", "moto g54 5G", "moto g54 5G", (33, 34), 1.0),
    ("motorola", "motorola edge 40", "motorola edge 40", (33, 34, 35), 0.6),
    ("OnePlus", "CPH2449", "OnePlus 11 5G", (33, 34, 35), 0.6),
    ("OnePlus", "CPH2581", "OnePlus 12", (34, 35), 0.5),
    ("realme", "RMX3771", "realme 11 Pro 5G", (33, 34), 0.6),
    ("vivo", "V2250", "vivo Y35", (33, 34), 0.6),
    ("HONOR", "ALI-NX1", "HONOR 90", (33, 34), 0.5),
)

# HMS phones (no Google services). EMUI and HarmonyOS report Android 10 or 12 as the release.
HUAWEI_MODELS: tuple[tuple[str, str, str, tuple[int, ...], float], ...] = (
    ("HUAWEI", "ELS-NX9", "HUAWEI P40 Pro", (29,), 2.0),
    ("HUAWEI", "ANA-NX9", "HUAWEI P40", (29,), 1.5),
    ("HUAWEI", "JNY-LX1", "HUAWEI P40 lite", (29,), 2.5),
    ("HUAWEI", "NOH-NX9", "HUAWEI Mate 40 Pro", (29,), 1.5),
    ("HUAWEI", "JAD-LX9", "HUAWEI P50 Pro", (29, 31), 1.2),
    ("HUAWEI", "NAM-LX9", "HUAWEI nova 9", (29, 31), 1.5),
    ("HUAWEI", "NCO-LX1", "HUAWEI nova 10", (31,), 1.2),
    ("HUAWEI", "DCO-LX9", "HUAWEI Mate 50 Pro", (31,), 1.0),
    ("HUAWEI", "MNA-LX9", "HUAWEI P60 Pro", (31,), 1.0),
    ("HUAWEI", "PPA-LX2", "HUAWEI P smart 2021", (29,), 2.0),
    ("HUAWEI", "FRL-L22", "HUAWEI Y9a", (29,), 1.0),
)

# Android tablets (Wi-Fi models), in the shape of ANDROID_MODELS.
ANDROID_TABLETS: tuple[tuple[str, str, str, tuple[int, ...], float], ...] = (
    ("samsung", "SM-X710", "Galaxy Tab S9", (33, 34, 35), 2.0),
    ("samsung", "SM-X700", "Galaxy Tab S8", (32, 33, 34, 35), 1.5),
    ("samsung", "SM-X510", "Galaxy Tab S9 FE", (33, 34, 35), 2.0),
    ("samsung", "SM-X200", "Galaxy Tab A8", (30, 31, 33, 34), 3.0),
    ("samsung", "SM-X210", "Galaxy Tab A9+", (33, 34, 35), 3.0),
    ("samsung", "SM-X110", "Galaxy Tab A9", (33, 34, 35), 2.0),
    ("LENOVO", "TB-J606F", "Lenovo Tab P11", (29, 30, 31), 1.5),
    ("Xiaomi", "23043RP34G", "Xiaomi Pad 6", (33, 34), 1.5),
)

# HMS tablets (MatePads), in the shape of HUAWEI_MODELS.
HUAWEI_TABLETS: tuple[tuple[str, str, str, tuple[int, ...], float], ...] = (
    ("HUAWEI", "DBY-W09", "HUAWEI MatePad 11", (29, 31), 2.0),
    ("HUAWEI", "BAH3-W09", "HUAWEI MatePad 10.4", (29,), 1.5),
    ("HUAWEI", "AGS3-W09", "HUAWEI MatePad T 10s", (29,), 1.5),
    ("HUAWEI", "MRX-W09", "HUAWEI MatePad Pro", (29,), 1.0),
)

ANDROID_API_WEIGHTS: dict[int, float] = {
    28: 0.3,
    29: 1.0,
    30: 0.8,
    31: 1.0,
    32: 0.3,
    33: 1.6,
    34: 2.4,
    35: 2.0,
    36: 0.7,
}

# (marketing name as the iOS SDK's utsname table spells it, lowest and highest iOS major, weight)
IOS_MODELS: tuple[tuple[str, int, int, float], ...] = (
    ("iPhone 16 Pro Max", 18, 26, 4.0),
    ("iPhone 16 Pro", 18, 26, 3.5),
    ("iPhone 16", 18, 26, 3.5),
    ("iPhone 15 Pro Max", 17, 26, 4.0),
    ("iPhone 15 Pro", 17, 26, 3.5),
    ("iPhone 15", 17, 26, 4.0),
    ("iPhone 14 Pro Max", 16, 26, 3.0),
    ("iPhone 14 Pro", 16, 26, 3.0),
    ("iPhone 14", 16, 26, 3.5),
    ("iPhone 13", 15, 26, 5.0),
    ("iPhone 13 Pro", 15, 26, 2.5),
    ("iPhone 13 mini", 15, 26, 0.8),
    ("iPhone 12", 14, 26, 3.0),
    ("iPhone 12 Pro", 14, 26, 1.5),
    ("iPhone 11", 13, 26, 3.5),
    ("iPhone SE (3rd generation)", 15, 26, 1.0),
    ("iPhone XR", 12, 18, 1.0),
    ("iPhone X", 11, 16, 0.4),
    ("iPhone 8", 11, 16, 0.4),
)

# iPads, in the shape of IOS_MODELS (iPadOS majors share iOS's numbers).
IOS_TABLETS: tuple[tuple[str, int, int, float], ...] = (
    ("iPad (A16)", 18, 26, 2.0),
    ("iPad (10th generation)", 16, 26, 5.0),
    ("iPad (9th generation)", 15, 26, 4.0),
    ("iPad Air 11-inch (M2)", 17, 26, 2.0),
    ("iPad Air (5th generation)", 15, 26, 3.0),
    ("iPad Pro 11-inch (4th generation)", 16, 26, 2.0),
    ("iPad Pro 12.9-inch (6th generation)", 16, 26, 1.0),
    ("iPad mini (6th generation)", 15, 26, 1.5),
)

# The machine identifier (`utsname.machine`) of each model above: the iOS SDK maps it to the name in
# the app's User-Agent; the Notification Service Extension (15.0.0 on) sends it raw.
IOS_MACHINE_IDS: dict[str, str] = {
    "iPhone 16 Pro Max": "iPhone17,2",
    "iPhone 16 Pro": "iPhone17,1",
    "iPhone 16": "iPhone17,3",
    "iPhone 15 Pro Max": "iPhone16,2",
    "iPhone 15 Pro": "iPhone16,1",
    "iPhone 15": "iPhone15,4",
    "iPhone 14 Pro Max": "iPhone15,3",
    "iPhone 14 Pro": "iPhone15,2",
    "iPhone 14": "iPhone14,7",
    "iPhone 13": "iPhone14,5",
    "iPhone 13 Pro": "iPhone14,2",
    "iPhone 13 mini": "iPhone14,4",
    "iPhone 12": "iPhone13,2",
    "iPhone 12 Pro": "iPhone13,3",
    "iPhone 11": "iPhone12,1",
    "iPhone SE (3rd generation)": "iPhone14,6",
    "iPhone XR": "iPhone11,8",
    "iPhone X": "iPhone10,3",
    "iPhone 8": "iPhone10,1",
    "iPad (A16)": "iPad15,7",
    "iPad (10th generation)": "iPad13,18",
    "iPad (9th generation)": "iPad12,1",
    "iPad Air 11-inch (M2)": "iPad14,8",
    "iPad Air (5th generation)": "iPad13,16",
    "iPad Pro 11-inch (4th generation)": "iPad14,3",
    "iPad Pro 12.9-inch (6th generation)": "iPad14,5",
    "iPad mini (6th generation)": "iPad14,1",
}

# iOS releases in the field, by major, with weights.
IOS_RELEASES: dict[int, tuple[tuple[str, float], ...]] = {
    26: (("26.0.1", 1.5), ("26.1", 2.0)),
    18: (("18.6.2", 4.0), ("18.5", 3.0), ("18.4.1", 1.5), ("18.3.2", 1.0), ("18.1.1", 0.5)),
    17: (("17.7.2", 1.0), ("17.6.1", 1.0), ("17.5.1", 0.5)),
    16: (("16.7.11", 0.8), ("16.7.10", 0.4), ("16.6.1", 0.2)),
    15: (("15.8.4", 0.3), ("15.8.3", 0.2)),
}

# (faker locale, language code, MCC, ((timezone, weight), ...), ((carrier, MNC, weight), ...), weight)
LOCALES: tuple[tuple[str, str, str, tuple[tuple[str, float], ...], tuple[tuple[str, str, float], ...], float], ...] = (
    (
        "en_US",
        "en",
        "310",
        (("America/New_York", 47), ("America/Chicago", 29), ("America/Denver", 7), ("America/Los_Angeles", 17)),
        (("Verizon", "480", 35), ("T-Mobile", "260", 33), ("AT&T", "410", 32)),
        22.0,
    ),
    (
        "en_GB",
        "en",
        "234",
        (("Europe/London", 1),),
        (("EE", "30", 35), ("Vodafone UK", "15", 25), ("O2 - UK", "10", 25), ("3", "20", 15)),
        8.0,
    ),
    (
        "de_DE",
        "de",
        "262",
        (("Europe/Berlin", 1),),
        (("Telekom.de", "01", 40), ("Vodafone.de", "02", 32), ("o2 - de", "07", 28)),
        9.0,
    ),
    (
        "fr_FR",
        "fr",
        "208",
        (("Europe/Paris", 1),),
        (("Orange F", "01", 40), ("SFR", "10", 25), ("Bouygues Telecom", "20", 20), ("Free", "15", 15)),
        7.0,
    ),
    (
        "es_ES",
        "es",
        "214",
        (("Europe/Madrid", 9), ("Atlantic/Canary", 1)),
        (("Movistar", "07", 35), ("Vodafone ES", "01", 30), ("Orange", "03", 35)),
        6.0,
    ),
    (
        "it_IT",
        "it",
        "222",
        (("Europe/Rome", 1),),
        (("TIM", "01", 35), ("Vodafone IT", "10", 30), ("WINDTRE", "88", 35)),
        6.0,
    ),
    (
        "pt_BR",
        "pt",
        "724",
        (("America/Sao_Paulo", 8), ("America/Manaus", 1), ("America/Recife", 1)),
        (("VIVO", "06", 40), ("Claro BR", "05", 33), ("TIM BRASIL", "02", 27)),
        8.0,
    ),
    (
        "hr_HR",
        "hr",
        "219",
        (("Europe/Zagreb", 1),),
        (("HT HR", "01", 45), ("A1 HR", "10", 35), ("Telemach HR", "02", 20)),
        3.0,
    ),
    (
        "pl_PL",
        "pl",
        "260",
        (("Europe/Warsaw", 1),),
        (("Plus", "01", 25), ("T-Mobile.pl", "02", 25), ("Orange", "03", 25), ("Play", "06", 25)),
        5.0,
    ),
    (
        "tr_TR",
        "tr",
        "286",
        (("Europe/Istanbul", 1),),
        (("Turkcell", "01", 45), ("Vodafone TR", "02", 30), ("Türk Telekom", "03", 25)),
        5.0,
    ),
    (
        "nl_NL",
        "nl",
        "204",
        (("Europe/Amsterdam", 1),),
        (("KPN", "08", 40), ("Vodafone NL", "04", 30), ("Odido", "16", 30)),
        3.0,
    ),
    (
        "en_IN",
        "en",
        "404",
        (("Asia/Kolkata", 1),),
        (("Jio 4G", "857", 45), ("airtel", "45", 40), ("Vi India", "20", 15)),
        7.0,
    ),
    (
        "id_ID",
        "id",
        "510",
        (("Asia/Jakarta", 7), ("Asia/Makassar", 2), ("Asia/Jayapura", 1)),
        (("Telkomsel", "10", 50), ("IM3", "01", 25), ("XL", "11", 25)),
        5.0,
    ),
    (
        "ja_JP",
        "ja",
        "440",
        (("Asia/Tokyo", 1),),
        (("NTT DOCOMO", "10", 40), ("SoftBank", "20", 30), ("au", "50", 30)),
        5.0,
    ),
)

# (app version, Android SDK version, iOS SDK version, weight): one app build embeds one SDK per platform.
APP_VERSIONS: tuple[tuple[str, str, str, float], ...] = (
    ("4.12.0", "15.0.0", "15.5.2", 40.0),
    ("4.11.2", "14.3.1", "15.5.1", 25.0),
    ("4.11.0", "14.3.1", "15.5.0", 12.0),
    ("4.10.5", "14.1.0", "15.4.1", 10.0),
    ("4.9.3", "13.12.0", "13.14.0", 8.0),
    ("4.8.0", "13.9.0", "13.11.1", 5.0),
)

ABIS: tuple[tuple[str, float], ...] = (("arm64-v8a", 97.0), ("armeabi-v7a", 3.0))
