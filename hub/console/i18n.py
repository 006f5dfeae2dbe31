"""English and German: every string the console shows, keyed by its English text.

``translate(lang)`` gives the ``_`` the templates use. The language is the cookie
``pnc_hub_lang`` (set by ``set_language``), else English. A string missing from ``GERMAN`` is
a bug (tests/hub/console/test_i18n.py finds every ``_("...")`` in the templates and views).
"""

from __future__ import annotations

from collections.abc import Callable

LANG_COOKIE = "pnc_hub_lang"
LANGUAGES = {"en": "English", "de": "Deutsch"}

GERMAN: dict[str, str] = {
    # layout and navigation
    "pnc-hub console": "pnc-hub Konsole",
    "Skip to content": "Zum Inhalt springen",
    "Main navigation": "Hauptnavigation",
    "Dashboard": "Übersicht",
    "Stations": "Ladestationen",
    "Active sessions": "Aktive Ladevorgänge",
    "Transactions": "Transaktionen",
    "API tokens": "API-Tokens",
    "Users": "Benutzer",
    "Connection info": "Verbindungsdaten",
    "API docs": "API-Dokumentation",
    "Change password": "Passwort ändern",
    "Log out": "Abmelden",
    "Language": "Sprache",
    "Switch": "Wechseln",
    "Signed in as": "Angemeldet als",
    "role": "Rolle",
    "organisation": "Organisation",
    # login
    "Log in": "Anmelden",
    "Username": "Benutzername",
    "Password": "Passwort",
    "Wrong username or password.": "Benutzername oder Passwort falsch.",
    "Too many failed logins; try again in {seconds} s.":
        "Zu viele fehlgeschlagene Anmeldungen; erneut versuchen in {seconds} s.",
    "This login link is unknown, used or expired.":
        "Dieser Anmeldelink ist unbekannt, bereits benutzt oder abgelaufen.",
    "Your session has ended; please log in again.":
        "Ihre Sitzung ist abgelaufen; bitte erneut anmelden.",
    "The form was out of date; please try again.":
        "Das Formular war veraltet; bitte erneut versuchen.",
    # dashboard
    "Online": "Online",
    "Offline": "Offline",
    "Stations online": "Stationen online",
    "Connectors by status": "Anschlüsse nach Status",
    "Messages per second": "Nachrichten pro Sekunde",
    "Errors since start": "Fehler seit Start",
    "OICP outbox": "OICP-Ausgang",
    "pending": "ausstehend",
    "failing": "fehlschlagend",
    "oldest pending": "älteste ausstehende",
    "Certificates expiring within 30 days": "Zertifikate, die in 30 Tagen ablaufen",
    "none": "keine",
    "Status": "Status",
    "Count": "Anzahl",
    "OCPP errors and timeouts": "OCPP-Fehler und Zeitüberschreitungen",
    "message log failures": "Fehler des Nachrichtenprotokolls",
    "Subject": "Inhaber",
    "Expires": "Läuft ab",
    # stations
    "Search": "Suchen",
    "Search stations": "Stationen suchen",
    "All": "Alle",
    "Connection": "Verbindung",
    "Filter": "Filtern",
    "Station": "Station",
    "Vendor": "Hersteller",
    "Model": "Modell",
    "Firmware": "Firmware",
    "Last seen": "Zuletzt gesehen",
    "OCPP version": "OCPP-Version",
    "Page {page} of {pages} ({total} stations)": "Seite {page} von {pages} ({total} Stationen)",
    "Previous": "Zurück",
    "Next": "Weiter",
    "No stations match.": "Keine Station passt.",
    "Connectors": "Anschlüsse",
    "Connector": "Anschluss",
    "Error code": "Fehlercode",
    "Since": "Seit",
    "Transaction": "Transaktion",
    "Current session": "Aktueller Ladevorgang",
    "Latest readings": "Letzte Messwerte",
    "Measurand": "Messgröße",
    "Value": "Wert",
    "No session is running.": "Kein Ladevorgang läuft.",
    "Power curve": "Leistungskurve",
    "Configuration": "Konfiguration",
    "Key": "Schlüssel",
    "read-only": "nur lesen",
    "Read from station": "Von der Station lesen",
    "Change": "Ändern",
    "No configuration read yet.": "Noch keine Konfiguration gelesen.",
    "Commands": "Befehle",
    "Reset": "Neustart",
    "Soft": "Weich",
    "Hard": "Hart",
    "Unlock": "Entriegeln",
    "Availability": "Verfügbarkeit",
    "Operative": "Betriebsbereit",
    "Inoperative": "Außer Betrieb",
    "Set": "Setzen",
    "Trigger message": "Nachricht anfordern",
    "Trigger": "Anfordern",
    "Remote start": "Fernstart",
    "Remote stop": "Fernstopp",
    "Id tag": "Id-Tag",
    "Start": "Starten",
    "Stop": "Stoppen",
    "Recent OCPP messages": "Letzte OCPP-Nachrichten",
    "The station answered {action}: {status}": "Die Station antwortete auf {action}: {status}",
    "{action} failed: {reason}": "{action} fehlgeschlagen: {reason}",
    "Live": "Live",
    "Time": "Zeit",
    "Direction": "Richtung",
    "Action": "Aktion",
    "Payload": "Inhalt",
    "Registered": "Registriert",
    "Owner": "Eigentümer",
    # sessions, transactions
    "Started": "Begonnen",
    "Stopped": "Beendet",
    "Energy (Wh)": "Energie (Wh)",
    "Power": "Leistung",
    "Reason": "Grund",
    "No session is active.": "Kein Ladevorgang ist aktiv.",
    "Download CSV": "Als CSV herunterladen",
    "active": "aktiv",
    "completed": "abgeschlossen",
    "No transactions.": "Keine Transaktionen.",
    "Page {page}": "Seite {page}",
    # tokens, users
    "Name": "Name",
    "Scopes": "Berechtigungen",
    "Created": "Erstellt",
    "Last used": "Zuletzt benutzt",
    "State": "Zustand",
    "Revoke": "Widerrufen",
    "Create token": "Token erstellen",
    "Expires (e.g. 30d, empty: never)": "Ablauf (z. B. 30d, leer: nie)",
    "Organisation (optional)": "Organisation (optional)",
    "Copy this token now; it is not shown again:":
        "Dieses Token jetzt kopieren; es wird nicht wieder angezeigt:",
    "Token {id} revoked.": "Token {id} widerrufen.",
    "Add user": "Benutzer anlegen",
    "Role": "Rolle",
    "Disable": "Deaktivieren",
    "Enable": "Aktivieren",
    "Login link": "Anmeldelink",
    "disabled": "deaktiviert",
    "One-time login link (valid 15 minutes):": "Einmaliger Anmeldelink (15 Minuten gültig):",
    "User {name} saved.": "Benutzer {name} gespeichert.",
    "Current password": "Aktuelles Passwort",
    "New password": "Neues Passwort",
    "Password changed.": "Passwort geändert.",
    "The current password is wrong.": "Das aktuelle Passwort ist falsch.",
    "Save": "Speichern",
    # connection info
    "OCPP endpoint": "OCPP-Endpunkt",
    "Also at the bare path": "Auch unter dem kurzen Pfad",
    "TLS": "TLS",
    "on": "an",
    "off": "aus",
    "Security profiles": "Sicherheitsprofile",
    "Client certificates": "Client-Zertifikate",
    "required": "verlangt",
    "optional": "optional",
    "Supported OCPP versions": "Unterstützte OCPP-Versionen",
    "Heartbeat interval (s)": "Heartbeat-Intervall (s)",
    "MQTT": "MQTT",
    "MQTT is not configured.": "MQTT ist nicht konfiguriert.",
    "Forbidden": "Verboten",
    "Your role may not do this.": "Ihre Rolle darf das nicht.",
    "Not found": "Nicht gefunden",
    "yes": "ja",
    "no": "nein",
    # monitoring
    "Performance": "Leistung des Hubs",
    "Ping monitor": "Ping-Monitor",
    "Redirects": "Umleitungen",
    "Open connections": "Offene Verbindungen",
    "Message log (last 5 minutes)": "Nachrichtenprotokoll (letzte 5 Minuten)",
    "queued": "in Warteschlange",
    "written": "geschrieben",
    "dropped": "verworfen",
    "flush p99 (ms)": "Schreiben p99 (ms)",
    "OCPP actions since start: latency in ms; the bar is p99 against the slowest action":
        "OCPP-Aktionen seit Start: Latenz in ms; der Balken ist p99 relativ zur langsamsten "
        "Aktion",
    "per minute": "pro Minute",
    "Errors": "Fehler",
    "No OCPP traffic yet.": "Noch kein OCPP-Verkehr.",
    "WebSocket ping every {seconds} s; a station is flapping with {count} or more connects "
    "within an hour.":
        "WebSocket-Ping alle {seconds} s; eine Station flattert bei {count} oder mehr "
        "Verbindungen innerhalb einer Stunde.",
    "Connected stations": "Verbundene Stationen",
    "Connected since": "Verbunden seit",
    "Last seen (s ago)": "Zuletzt gesehen (vor s)",
    "Messages in/out": "Nachrichten ein/aus",
    "Reconnects (1 h)": "Neuverbindungen (1 h)",
    "Flapping": "Flattert",
    "No station is connected.": "Keine Station ist verbunden.",
    "Stations whose connection the hub hands to another backend (managed with "
    "/api/op_redirects).":
        "Stationen, deren Verbindung der Hub an ein anderes Backend weitergibt (verwaltet "
        "über /api/op_redirects).",
    "Target": "Ziel",
    "Mode": "Modus",
    "Enabled": "Aktiv",
    "Last error": "Letzter Fehler",
    "Changed": "Geändert",
    "History": "Verlauf",
    "No station is redirected.": "Keine Station wird umgeleitet.",
    "Redirect history": "Verlauf der Umleitung",
    "By": "Von",
    "Detail": "Einzelheiten",
    "No history.": "Kein Verlauf.",
    # station diagnosis
    "Station diagnosis": "Stationsdiagnose",
    "Deterministic rules over the hub's own data of the last 7 days "
    "(hub/services/station_diagnosis.py); each finding lists the rows behind it. No AI model "
    "is involved.":
        "Feste Regeln über die eigenen Daten des Hubs der letzten 7 Tage "
        "(hub/services/station_diagnosis.py); jeder Befund nennt die Zeilen, auf denen er "
        "beruht. Kein KI-Modell ist beteiligt.",
    "problem": "Problem",
    "warning": "Warnung",
    "info": "Hinweis",
    "Evidence": "Beleg",
    "No rule found anything to report.": "Keine Regel hat etwas zu melden.",
    # diagnostics
    "Diagnostics": "Diagnose",
    "Uploaded files": "Hochgeladene Dateien",
    "Size (bytes)": "Größe (Bytes)",
    "Source": "Quelle",
    "nothing": "nichts",
    "Diagnostics requests": "Diagnoseanforderungen",
    "Station status": "Status der Station",
    "Error": "Fehler",
    "Firmware requests": "Firmware-Aufträge",
    "File": "Datei",
    "Downloads": "Downloads",
    # MQTT pages
    "MQTT pages": "MQTT-Seiten",
    "MQTT status": "MQTT-Status",
    "MQTT topics": "MQTT-Topics",
    "Ignored MQTT topics": "Ignorierte MQTT-Topics",
    "MQTT meters without traffic": "MQTT-Zähler ohne Nachrichten",
    "Set [mqtt] url in the configuration to connect a broker.":
        "Für einen Broker [mqtt] url in der Konfiguration setzen.",
    "Broker": "Broker",
    "Client id": "Client-ID",
    "Connected": "Verbunden",
    "Connects": "Verbindungsaufbauten",
    "Received": "Empfangen",
    "Ignored messages": "Ignorierte Nachrichten",
    "Published": "Veröffentlicht",
    "Waiting to be published": "Warten auf Veröffentlichung",
    "Dropped": "Verworfen",
    "Subscriptions": "Abonnements",
    "Topic prefix": "Topic-Präfix",
    "The MQTT topics belong to the whole estate; a user with an organisation sees only the "
    "connection state.":
        "Die MQTT-Topics gehören zum ganzen Bestand; ein Benutzer mit Organisation sieht nur "
        "den Verbindungszustand.",
    "Every topic the hub has received since it started, with its last message (the first "
    "1 KiB).":
        "Jedes Topic, das der Hub seit seinem Start empfangen hat, mit seiner letzten "
        "Nachricht (das erste KiB).",
    "Topic": "Topic",
    "Messages": "Nachrichten",
    "Last message at": "Letzte Nachricht um",
    "Last message": "Letzte Nachricht",
    "Listeners": "Empfänger",
    "Listener": "Empfänger",
    "Ignored": "Ignoriert",
    "No message has arrived yet.": "Noch keine Nachricht empfangen.",
    "Messages on these topic filters are counted but handed to nobody (no meter reads them).":
        "Nachrichten auf diesen Topic-Filtern werden gezählt, aber an niemanden weitergegeben "
        "(kein Zähler liest sie).",
    "No topic is ignored.": "Kein Topic wird ignoriert.",
    "Topic filters, one a line ({limit} at most; + and # as wildcards)":
        "Topic-Filter, einer pro Zeile (höchstens {limit}; + und # als Platzhalter)",
    "Only an admin may change this list.": "Nur ein Admin darf diese Liste ändern.",
    "{count} ignored topic filters saved.": "{count} ignorierte Topic-Filter gespeichert.",
    "{field}: {message}": "{field}: {message}",
    "must not be empty": "darf nicht leer sein",
    "'#' must be a whole level, the last one": "'#' muss eine ganze Ebene sein, die letzte",
    "'+' must be a whole level": "'+' muss eine ganze Ebene sein",
    "must not contain NUL": "darf kein NUL enthalten",
    "must be a string of 1 to 1024 characters":
        "muss eine Zeichenkette mit 1 bis 1024 Zeichen sein",
    "must be an array of at most 1000 topic filters":
        "muss eine Liste von höchstens 1000 Topic-Filtern sein",
    "Subscriptions that have received no message since the hub started, e.g. a meter that "
    "is off or publishes to another topic.":
        "Abonnements ohne Nachricht seit dem Start des Hubs, z. B. ein Zähler, der aus ist "
        "oder auf ein anderes Topic sendet.",
    "Topic filter": "Topic-Filter",
    "Every subscription has received messages.": "Jedes Abonnement hat Nachrichten empfangen.",
    "Ping round trip (ms)": "Ping-Umlaufzeit (ms)",
    "The hub pings a station only when it has sent nothing for a ping interval, so a busy "
    "station shows its last measured round trip, or none yet.":
        "Der Hub pingt eine Station nur, wenn sie ein Ping-Intervall lang nichts gesendet hat; "
        "eine beschäftigte Station zeigt daher ihre zuletzt gemessene Umlaufzeit oder noch "
        "keine.",
    # diagnostics and firmware commands
    "Upload location (empty: the hub receives it)":
        "Upload-Ort (leer: der Hub nimmt die Datei an)",
    "Request diagnostics": "Diagnose anfordern",
    "Firmware image": "Firmware-Abbild",
    "external location": "externer Ort",
    "Firmware location": "Firmware-Ort",
    "Update firmware": "Firmware aktualisieren",
    "The station answered {action}: it will upload {file}":
        "Die Station antwortete auf {action}: sie lädt {file} hoch",
    "The station answered {action}: nothing to upload":
        "Die Station antwortete auf {action}: nichts hochzuladen",
    "The Diagnostics page follows request {id}.": "Die Diagnose-Seite verfolgt Auftrag {id}.",
}


def language_of(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else "en"


def translate(lang: str) -> Callable[..., str]:
    table = GERMAN if lang == "de" else {}

    def _(text: str, **values: object) -> str:
        out = table.get(text, text)
        return out.format(**values) if values else out

    return _
