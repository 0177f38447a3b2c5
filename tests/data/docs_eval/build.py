"""Builds the documents evaluation corpus into a folder: the committed text, Markdown and HTML files are
copied, and the PDFs and Word files are written from the text below (no binaries in the repository).

    python -m tests.data.docs_eval.build DEST
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.doc_fixtures import write_docx, write_pdf

HERE = Path(__file__).resolve().parent
COMMITTED = (
    "observatory_history.txt",
    "kestrel_release_notes.txt",
    "tessaly_recipes.md",
    "pellucid_ink.md",
    "chess_club_rules.html",
    "orchestra_season.html",
)

FERRY = [
    "Lumenfjord Ferry Company - Passenger Guide\n\n"
    "Routes and departures\n\n"
    "The company runs a single route between the harbour of Skelby and Vantor Island. "
    "Ships leave Skelby every 40 minutes from 06:10 until 22:30, and the last return from Vantor "
    "Island leaves at 23:15. The crossing takes 55 minutes in calm weather. On Sundays the first "
    "departure is at 08:00. Two ships serve the route: the Marta Lind, built in 1998, and the larger "
    "Nordkapp Star, which has a cafe on the upper deck and room for 60 cars.\n\n"
    "Boarding closes ten minutes before departure. Foot passengers board through the glass walkway "
    "at gate 2; vehicles queue in lanes A to D and are loaded in order of arrival.",
    "Fares\n\n"
    "A single adult ticket costs 18 crowns and a child ticket 9 crowns. Children under four travel "
    "free. A return ticket is sold at the price of two singles but is valid for a whole month. "
    "Bicycles are carried for 4 crowns each and must be stored in the racks on the car deck. "
    "Dogs travel free if they are kept on a leash; other animals must stay in a closed basket. "
    "Cars cost 120 crowns including the driver, and vans or campers over six metres cost 210 crowns.\n\n"
    "Island residents can buy a book of 40 trips for 300 crowns at the office on the quay. "
    "Tickets bought on board cost 2 crowns more than tickets bought online or at the office.",
    "Bad weather and cancellations\n\n"
    "Sailings are cancelled when the wind at the harbour mouth exceeds 24 metres per second, or when "
    "the captain judges the sea unsafe. A cancellation is announced by three short blasts of the siren "
    "at the terminal, on the company website and by text message to registered travellers.\n\n"
    "Passengers whose sailing is cancelled may travel on the next departure with the same ticket or "
    "ask for their money back. Refund requests must be made within 14 days, at the office or by post. "
    "The company is not responsible for hotel costs when a crossing is cancelled, but the waiting room "
    "in Skelby stays open through the night during storms and hot soup is served free of charge.",
]

BEES = [
    "Quillback Beekeepers' Guild - Members' Handbook\n\n"
    "About the guild\n\n"
    "The guild was founded in 1887 by Agathe Mornay, a schoolteacher who kept twelve hives behind the "
    "village school, together with eleven neighbours. Today it has more than 300 members across the "
    "county. The yearly membership fee is 30 crowns, which includes insurance for up to ten colonies "
    "and the quarterly newsletter, The Smoker. New members are paired with an experienced mentor for "
    "their first season.",
    "Inspecting a hive\n\n"
    "In spring, open each colony every nine days to look for signs that it is preparing to swarm. "
    "Choose a warm, still afternoon: never open a hive when the air is colder than 14 degrees, because "
    "the brood chills quickly. Calm the bees with a smoker fuelled by dried lavender or hessian, and "
    "work slowly from one side of the box to the other. Note on the record card how many frames hold "
    "eggs, larvae and capped brood, and whether queen cells are present.",
    "Swarms\n\n"
    "A swarm hanging from a branch is usually gentle, because the bees have filled themselves with "
    "honey before leaving. Members of the public who find one should call the guild's swarm line, which "
    "is staffed from April to July. To collect a swarm, hold a cardboard box under the cluster, give "
    "the branch one sharp shake, and cover the box with a sheet. Leave it in the shade until evening so "
    "that the foragers can join.\n\n"
    "The guild follows the international colour code when marking queens: a queen born in a year "
    "ending in 0 or 5 is marked with a blue dot, 1 or 6 white, 2 or 7 yellow, 3 or 8 red, 4 or 9 green.",
    "Harvest and the Golden Comb\n\n"
    "Honey is taken off when at least three quarters of the cells are capped. Its water content must be "
    "below 18 percent, or it will ferment in the jar; the guild lends refractometers to members who "
    "want to measure it. Extractors can be borrowed from the guild hall for a week at a time.\n\n"
    "Each September the guild holds the Golden Comb contest. Judges score clear honey, set honey and "
    "comb on moisture, clarity, aroma and presentation. The winner receives a copper smoker engraved "
    "with the year, and the three best jars are sold at auction for the guild's training fund.",
]

QUARRY = [
    "Glimmerstone Quarry - Site Safety Rules\n\n"
    "Protective equipment\n\n"
    "Everyone on site, including visitors, must wear a helmet, a high-visibility vest and boots with "
    "steel toe caps. Hearing protection is required in any area where noise exceeds 85 decibels; these "
    "areas are marked with blue signs. Dust masks of class FFP3 are issued at the stores and must be "
    "worn near the crusher and the screening plant. Lost or damaged equipment is replaced free of "
    "charge; report it to the stores before the start of the shift.",
    "Blasting\n\n"
    "Blasting takes place only on weekdays, at 12:30 or 16:00. Five minutes before a blast the warning "
    "horn sounds one long blast, and all people must leave the exclusion zone, which extends 500 metres "
    "from the blast site. Guards stand at every road into the zone. When the shot firer has inspected "
    "the face and declared it safe, two short blasts of the horn give the all clear. A misfire is "
    "reported at once to the quarry manager, and nobody may approach the face for thirty minutes.",
    "First aid and reporting\n\n"
    "First-aid stations are located at gate B and in the crusher house, and each holds a defibrillator "
    "and an eye-wash bottle. Every shift has at least two trained first aiders, whose names are posted "
    "on the board in the canteen. Any accident, injury or near miss must be reported to the shift "
    "supervisor within 24 hours, using the yellow form. Serious injuries are also reported to the "
    "regional inspectorate by the quarry manager the same day.",
]

TRAM = [
    "Marrowgate Tramways: Line 3 Renovation",
    "This memo explains the renovation of tram Line 3, which runs from Quay Street to the university "
    "campus at Northfield. The line will be closed from 4 March to 19 August while the tracks, "
    "overhead wires and nine stops are rebuilt.",
    "During the closure, replacement buses run along the same route every 8 minutes during the day and "
    "every 15 minutes in the evening. Tram tickets and season passes are valid on the replacement buses. "
    "The stop at the Central Market moves temporarily to the east side of Wool Square.",
    "The renovation includes 28 new low-floor vehicles of the Heron class, ordered from the Dalvik Works. "
    "Each Heron carries 210 passengers, has space for two wheelchairs and four prams, and uses "
    "regenerative braking. The first vehicle is expected in June for testing on the depot track.",
    "The total budget is 410 million crowns, of which the national transport fund pays 60 percent. The "
    "city council will publish a progress report every month on its website.",
    "To limit disturbance for residents, no heavy machinery may be used after 23:00 or before 06:00, and "
    "the noisiest rail cutting along Quay Street is scheduled during school holidays. Residents who "
    "live directly beside the works can apply for free ear plugs and a hotel voucher for the two worst "
    "nights.",
]

LIBRARY = [
    "Brindlecombe Public Library: Lending Rules",
    "Any resident of the district may join the library free of charge by showing proof of address. "
    "Members may borrow up to 15 items at a time. Books, audiobooks and films are lent for three weeks "
    "and may be renewed twice, online or at the desk, unless another member has reserved them.",
    "Items returned late are charged 2 crowns per day, up to a maximum of 40 crowns per item. Children's "
    "books are never charged. A lost or damaged item is charged at its replacement cost plus 5 crowns. "
    "A lost library card is replaced for 5 crowns.",
    "The rare books room on the second floor is open by appointment only, from Tuesday to Friday. "
    "Readers must leave bags in the lockers, use pencils only, and wear the cotton gloves provided "
    "when handling maps and manuscripts. Nothing from this room may leave the building.",
    "Books that the library does not own can be requested through the interlibrary loan service for 3 "
    "crowns per request. Delivery usually takes about 10 working days, and the member is notified by "
    "email when the book has arrived.",
]

LIBRARY_TABLE = [
    ["Day", "Opening hours"],
    ["Monday to Friday", "09:00 - 20:00"],
    ["Saturday", "10:00 - 16:00"],
    ["Sunday", "closed"],
]


def build(dest: Path) -> list[Path]:
    """Writes the whole corpus into `dest` and returns the files' paths."""
    dest.mkdir(parents=True, exist_ok=True)
    files = [Path(shutil.copyfile(HERE / name, dest / name)) for name in COMMITTED]
    files.append(write_pdf(dest / "ferry_guide.pdf", FERRY))
    files.append(write_pdf(dest / "beekeeping_handbook.pdf", BEES))
    files.append(write_pdf(dest / "quarry_safety.pdf", QUARRY))
    files.append(write_docx(dest / "tram_renovation.docx", TRAM))
    files.append(write_docx(dest / "library_rules.docx", LIBRARY, table=LIBRARY_TABLE))
    return files


if __name__ == "__main__":
    for path in build(Path(sys.argv[1])):
        print(path)
