"""Code systems, codes and French word lists shared by the demo and synthetic generators.

Codes were checked against FR Core 2.2.0 and the ANS NOS code systems (TRE_G15, TRE_R09,
TRE_R21-R23, TRE_R38, TRE_A03, TRE_A11). Names are word lists that the generators combine at
random, so every person is invented; communes are real so that postal and INSEE codes agree.
"""

from __future__ import annotations

from typing import NamedTuple

# --- identifier and code systems -------------------------------------------------------------

FR_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
FR_ORG_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-3307"
FR_ID_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identifier-type"
FR_IDENTITY_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
FR_VALIDATION_MODE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
EXT_IDENTITY_RELIABILITY = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
)
EXT_BIRTH_LIST_GIVEN = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
)
EXT_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"

NOS = "https://mos.esante.gouv.fr/NOS/"
TRE_R13_COMMUNE = NOS + "TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
TRE_G15_PROFESSION = NOS + "TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
TRE_R09_CATEGORY = NOS + "TRE_R09-CategorieProfessionnelle/FHIR/TRE-R09-CategorieProfessionnelle"
TRE_R21_FUNCTION = NOS + "TRE_R21-Fonction/FHIR/TRE-R21-Fonction"
TRE_R22_ACTIVITY = NOS + "TRE_R22-GenreActivite/FHIR/TRE-R22-GenreActivite"
TRE_R23_MODE = NOS + "TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
TRE_R38_SPECIALTY = NOS + "TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
TRE_A03_CLASS = NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
TRE_A11_FORMAT = NOS + "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"

INS_NIR_TEST = "urn:oid:1.2.250.1.213.1.4.10"  # test INS: never mistaken for a real one
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
IDNST = "urn:oid:1.2.250.1.71.4.2.2"
RPPS = "https://rpps.esante.gouv.fr"
FINESS = "https://finess.esante.gouv.fr"  # FR Core 2.2.0 FINEJ/FINEG slice
URI_IDENTIFIER = "urn:ietf:rfc:3986"  # identifier whose value is itself a URI (urn:uuid:...)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
MEDREQ_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

# --- people ----------------------------------------------------------------------------------

GIVEN_FEMALE = (
    "Hélène",
    "Anaïs",
    "Chloé",
    "Zoé",
    "Gaëlle",
    "Françoise",
    "Geneviève",
    "Béatrice",
    "Aurélie",
    "Maëlle",
    "Léa",
    "Inès",
    "Noémie",
    "Ève",
    "Marie-Claire",
    "Anne-Sophie",
    "Thérèse",
    "Agnès",
    "Clémence",
    "Valérie",
    "Mélanie",
    "Océane",
    "Nolwenn",
    "Maïwenn",
    "Solène",
    "Éloïse",
    "Amélie",
    "Josiane",
    "Élodie",
    "Capucine",
    "Marie",
    "Camille",
    "Sophie",
    "Lucie",
    "Manon",
    "Juliette",
    "Margaux",
    "Louise",
    "Jeanne",
    "Odile",
)
GIVEN_MALE = (
    "Loïc",
    "Jérôme",
    "Frédéric",
    "Stéphane",
    "Cédric",
    "Benoît",
    "François",
    "Joël",
    "Raphaël",
    "Mathéo",
    "Jean-Pierre",
    "Jean-Baptiste",
    "Hervé",
    "Rémi",
    "Sébastien",
    "Jérémy",
    "Gwénaël",
    "Yannick",
    "Ronan",
    "Émile",
    "Étienne",
    "Noël",
    "Gaël",
    "André",
    "Grégoire",
    "Timothée",
    "Léo",
    "Hugo",
    "Lucas",
    "Nicolas",
    "Thomas",
    "Pierre-Yves",
    "Bernard",
    "Michel",
    "Yves",
    "Maël",
    "Aurélien",
    "Clément",
    "Théo",
    "Anthony",
)
FAMILY_NAMES = (
    "Le Gall",
    "Le Goff",
    "Lefèvre",
    "Lefèvre-Durand",
    "D'Almeida",
    "Dupré",
    "Géraud",
    "Lemaître",
    "Hénaff",
    "Kerjean",
    "Morvan",
    "Carré",
    "Mercier",
    "Faure",
    "Rousseau",
    "Benoît",
    "Girard",
    "Chevalier",
    "Garnier",
    "Roussel",
    "Fontaine",
    "Mathieu",
    "Lopes",
    "Da Silva",
    "N'Diaye",
    "Ben Saïd",
    "Moreau-Lefébure",
    "De La Fontaine",
    "L'Hôte",
    "Hoarau",
    "Payet",
    "Santoni",
    "Albertini",
    "Bouvier",
    "Lacroix",
    "Guérin",
    "Boyer",
    "Besnard",
    "Prévost",
    "Texier",
    "Aubert",
    "Perrin",
    "Marchand",
    "Dumont",
    "Le Bihan",
    "Quéré",
    "Nédélec",
    "Thébault",
    "Ménard",
    "Pérez",
    "Gauthier",
    "Brunet-Lecomte",
    "Caillaud",
    "Delaunay",
    "Évrard",
    "Bézier",
    "Jégou",
    "O'Neill",
    "Saint-Martin",
    "Vasseur",
)
STREETS = (
    "rue de la République",
    "avenue Jean Jaurès",
    "rue Victor Hugo",
    "boulevard Pasteur",
    "rue des Lilas",
    "place de l'Église",
    "rue du Moulin",
    "allée des Châtaigniers",
    "rue de la Gare",
    "impasse des Mésanges",
    "rue Saint-Exupéry",
    "chemin des Prés",
    "avenue du Général de Gaulle",
    "rue des Écoles",
    "quai de la Fosse",
    "rue d'Antrain",
    "boulevard de la Liberté",
    "rue Émile Zola",
    "rue du Château d'Eau",
    "route de Lorient",
)


class Commune(NamedTuple):
    """A French commune: INSEE (COG) code, main postal code, name."""

    insee: str
    postal: str
    name: str

    @property
    def dept(self) -> str:
        """Département part of the INSEE code (3 characters overseas, 2 elsewhere)."""
        return self.insee[:3] if self.insee.startswith("97") else self.insee[:2]


COMMUNES = (
    Commune("35238", "35000", "Rennes"),
    Commune("29019", "29200", "Brest"),
    Commune("29232", "29000", "Quimper"),
    Commune("56260", "56000", "Vannes"),
    Commune("56121", "56100", "Lorient"),
    Commune("35288", "35400", "Saint-Malo"),
    Commune("22278", "22000", "Saint-Brieuc"),
    Commune("29151", "29600", "Morlaix"),
    Commune("44109", "44000", "Nantes"),
    Commune("49007", "49000", "Angers"),
    Commune("37261", "37000", "Tours"),
    Commune("45234", "45000", "Orléans"),
    Commune("31555", "31000", "Toulouse"),
    Commune("33063", "33000", "Bordeaux"),
    Commune("34172", "34000", "Montpellier"),
    Commune("67482", "67000", "Strasbourg"),
    Commune("59350", "59000", "Lille"),
    Commune("21231", "21000", "Dijon"),
    Commune("38185", "38000", "Grenoble"),
    Commune("63113", "63000", "Clermont-Ferrand"),
    Commune("87085", "87000", "Limoges"),
    Commune("14118", "14000", "Caen"),
    Commune("76540", "76000", "Rouen"),
    Commune("57463", "57000", "Metz"),
    Commune("54395", "54000", "Nancy"),
    Commune("25056", "25000", "Besançon"),
    Commune("66136", "66000", "Perpignan"),
    Commune("64445", "64000", "Pau"),
    Commune("64102", "64100", "Bayonne"),
    Commune("86194", "86000", "Poitiers"),
    Commune("17300", "17000", "La Rochelle"),
    Commune("80021", "80000", "Amiens"),
    Commune("51454", "51100", "Reims"),
    Commune("2A004", "20000", "Ajaccio"),
    Commune("2B033", "20200", "Bastia"),
    Commune("97120", "97110", "Pointe-à-Pitre"),
    Commune("97411", "97400", "Saint-Denis"),
)

# --- clinical content ------------------------------------------------------------------------


class Vital(NamedTuple):
    """A LOINC-coded measurement with its UCUM unit and observation category."""

    loinc: str
    display: str
    text: str
    unit: str
    category: str = "vital-signs"


WEIGHT = Vital("29463-7", "Body weight", "Poids", "kg")
HEIGHT = Vital("8302-2", "Body height", "Taille", "cm")
BMI = Vital("39156-5", "Body mass index (BMI) [Ratio]", "Indice de masse corporelle", "kg/m2")
HEART_RATE = Vital("8867-4", "Heart rate", "Fréquence cardiaque", "/min")
TEMPERATURE = Vital("8310-5", "Body temperature", "Température", "Cel")
SPO2 = Vital(
    "59408-5",
    "Oxygen saturation in Arterial blood by Pulse oximetry",
    "Saturation en oxygène",
    "%",
)
BP_PANEL = Vital(
    "85354-9", "Blood pressure panel with all children optional", "Pression artérielle", "mm[Hg]"
)
SYSTOLIC = Vital("8480-6", "Systolic blood pressure", "Pression systolique", "mm[Hg]")
DIASTOLIC = Vital("8462-4", "Diastolic blood pressure", "Pression diastolique", "mm[Hg]")
GLUCOSE = Vital("2339-0", "Glucose [Mass/volume] in Blood", "Glycémie", "mg/dL", "laboratory")
HBA1C = Vital(
    "4548-4",
    "Hemoglobin A1c/Hemoglobin.total in Blood",
    "Hémoglobine glyquée (HbA1c)",
    "%",
    "laboratory",
)
CHOLESTEROL = Vital(
    "2093-3",
    "Cholesterol [Mass/volume] in Serum or Plasma",
    "Cholestérol total",
    "mg/dL",
    "laboratory",
)
CREATININE = Vital(
    "2160-0",
    "Creatinine [Mass/volume] in Serum or Plasma",
    "Créatinine",
    "mg/dL",
    "laboratory",
)


class Medication(NamedTuple):
    """An ATC-coded drug with a French label and a typical dosage instruction."""

    atc: str
    label: str
    dosage: str


MEDICATIONS = {
    "metformine": Medication(
        "A10BA02", "Metformine 1000 mg, comprimé", "1 comprimé matin et soir au cours des repas"
    ),
    "ramipril": Medication("C09AA05", "Ramipril 5 mg, gélule", "1 gélule le matin"),
    "amlodipine": Medication("C08CA01", "Amlodipine 5 mg, comprimé", "1 comprimé par jour"),
    "atorvastatine": Medication("C10AA05", "Atorvastatine 20 mg, comprimé", "1 comprimé le soir"),
    "salbutamol": Medication(
        "R03AC02",
        "Salbutamol 100 µg/dose, suspension pour inhalation",
        "2 bouffées en cas de gêne respiratoire, sans dépasser 8 bouffées par jour",
    ),
    "budesonide": Medication(
        "R03BA02", "Budésonide 200 µg/dose, poudre pour inhalation", "1 inhalation matin et soir"
    ),
    "levothyroxine": Medication(
        "H03AA01", "Lévothyroxine sodique 75 µg, comprimé", "1 comprimé le matin à jeun"
    ),
    "paracetamol": Medication(
        "N02BE01",
        "Paracétamol 1 g, comprimé",
        "1 comprimé toutes les 6 heures si douleur, sans dépasser 4 g par jour",
    ),
    "omeprazole": Medication(
        "A02BC01", "Oméprazole 20 mg, gélule gastro-résistante", "1 gélule le matin à jeun"
    ),
    "apixaban": Medication("B01AF02", "Apixaban 5 mg, comprimé", "1 comprimé matin et soir"),
    "bisoprolol": Medication("C07AB07", "Bisoprolol 2,5 mg, comprimé", "1 comprimé le matin"),
    "sertraline": Medication("N06AB06", "Sertraline 50 mg, gélule", "1 gélule par jour"),
    "ibuprofene": Medication(
        "M01AE01",
        "Ibuprofène 400 mg, comprimé",
        "1 comprimé 3 fois par jour au cours des repas pendant 5 jours",
    ),
    "amoxicilline": Medication(
        "J01CA04", "Amoxicilline 1 g, comprimé", "1 comprimé matin, midi et soir pendant 6 jours"
    ),
    "fosfomycine": Medication(
        "J01XX01", "Fosfomycine 3 g, granulés", "1 sachet en prise unique, à distance des repas"
    ),
    "furosemide": Medication("C03CA01", "Furosémide 40 mg, comprimé", "1 comprimé le matin"),
    "colecalciferol": Medication(
        "A11CC05", "Colécalciférol 100 000 UI, solution buvable", "1 ampoule tous les 3 mois"
    ),
}


class Problem(NamedTuple):
    """A CIM-10 (ICD-10) coded problem, who gets it and what is prescribed for it."""

    code: str
    text: str
    chronic: bool
    min_age: int
    weight: float  # relative likelihood among patients old enough
    drugs: tuple[str, ...]


PROBLEMS = (
    Problem("I10", "Hypertension essentielle (primitive)", True, 40, 0.30, ("ramipril",)),
    Problem("E11.9", "Diabète sucré de type 2, sans complication", True, 40, 0.12, ("metformine",)),
    Problem("E78.0", "Hypercholestérolémie essentielle", True, 35, 0.15, ("atorvastatine",)),
    Problem("J45.9", "Asthme, sans précision", True, 3, 0.07, ("salbutamol", "budesonide")),
    Problem("E03.9", "Hypothyroïdie, sans précision", True, 25, 0.05, ("levothyroxine",)),
    Problem("K21.9", "Reflux gastro-œsophagien sans œsophagite", True, 20, 0.08, ("omeprazole",)),
    Problem(
        "I48.9",
        "Fibrillation et flutter auriculaires, sans précision",
        True,
        60,
        0.08,
        ("apixaban", "bisoprolol"),
    ),
    Problem("F32.9", "Épisode dépressif, sans précision", True, 18, 0.06, ("sertraline",)),
    Problem("M17.9", "Gonarthrose, sans précision", True, 55, 0.10, ("paracetamol",)),
    Problem("I50.9", "Insuffisance cardiaque, sans précision", True, 70, 0.06, ("furosemide",)),
    Problem(
        "J06.9",
        "Infection aiguë des voies respiratoires supérieures, sans précision",
        False,
        0,
        0.25,
        ("paracetamol",),
    ),
    Problem(
        "N39.0",
        "Infection des voies urinaires, siège non précisé",
        False,
        15,
        0.08,
        ("fosfomycine",),
    ),
    Problem("S93.4", "Entorse et foulure de la cheville", False, 8, 0.08, ("ibuprofene",)),
    Problem("J02.9", "Pharyngite aiguë, sans précision", False, 3, 0.10, ("amoxicilline",)),
    Problem("M54.5", "Lombalgie basse", False, 18, 0.12, ("ibuprofene",)),
    Problem("R07.4", "Douleur thoracique, sans précision", False, 30, 0.05, ()),
)
PROBLEM_BY_CODE = {p.code: p for p in PROBLEMS}


class DocType(NamedTuple):
    """A LOINC document type with its TRE_A03 class."""

    loinc: str
    display: str
    title: str
    class_code: str
    class_display: str


CONSULT_NOTE = DocType(
    "11488-4", "Consult note", "Compte rendu de consultation", "10", "Compte rendu"
)
SUMMARY_NOTE = DocType("34133-9", "Summary of episode note", "Synthèse médicale", "11", "Synthèse")
DISCHARGE_SUMMARY = DocType(
    "18842-5", "Discharge summary", "Compte rendu d'hospitalisation", "10", "Compte rendu"
)
LAB_REPORT = DocType(
    "11502-2", "Laboratory report", "Compte rendu d'examens biologiques", "10", "Compte rendu"
)

# Encounter settings: (v3-ActCode class, class display, SNOMED type, type display, French text)
Setting = tuple[str, str, str, str, str]
AMBULATORY: Setting = ("AMB", "ambulatory", "11429006", "Consultation", "Consultation")
EMERGENCY: Setting = (
    "EMER",
    "emergency",
    "50849002",
    "Emergency room admission",
    "Passage aux urgences",
)
INPATIENT: Setting = (
    "IMP",
    "inpatient encounter",
    "32485007",
    "Hospital admission",
    "Hospitalisation",
)
CHECKUP: Setting = (
    "AMB",
    "ambulatory",
    "185349003",
    "Encounter for check up",
    "Consultation de suivi",
)
