//! The manual `inject --help` prints.

pub(crate) const HELP: &str = "\
inject: put one bot message into a live Genesys Cloud messaging conversation

USAGE:
    inject --conversation ID [--communication ID] [OPTIONS] TEXT...
    inject --conversation ID --communication ID [OPTIONS] --attach FILE
    inject --agentless TYPE --from ADDRESS (--to ADDRESS | --contact ID) [OPTIONS] TEXT...
    inject --agentless whatsapp --from ID --to WHATSAPP_ID --template ID [--param NAME=VALUE]...
    inject --batch FILE [--batch-id ID] [--journal FILE] [OPTIONS]
    inject journal [--batch-id ID] [--json] [--state-dir DIR]

Each TEXT is one content block. Two that meet with no white space on
either side get one space between them, as the shell's words were typed
(inject ... hello world sends \"hello world\"); a batch line's text blocks
are joined as given, with no separator, as the library joins them.
A TEXT of - reads one block from standard input (once; one trailing line
break is dropped). A TEXT that starts with - goes after --, which ends the
options: inject ... -- '-5 degrees tonight'.

ROUTES:
    --conversation ID       conversation to send into (GUID)
    --communication ID      communication to send as (GUID); without it, the
                            conversation's connected agent's, looked up when sent
    --agentless TYPE        send as an API participant instead: webmessaging, sms,
                            open, apple or whatsapp (whatsapp takes --template)
    --from ADDRESS          agentless sender: deployment id (webmessaging), E.164
                            number (sms), integration id (open, apple, whatsapp)
    --to ADDRESS            agentless recipient: E.164 number (sms, apple), WhatsApp
                            id (the number without +), or the open messaging address
    --contact ID            agentless external contact id (GUID; required for
                            webmessaging)
    --new-conversation      agentless: start a new conversation instead of joining
                            the active one
Flags of one route cannot be used with the other; no flag but --param may be
repeated.

CONTENT (one per message: TEXT, a template or a file):
    --template ID           agentless, WhatsApp: the Response Management response
                            whose messaging template is sent
    --param NAME=VALUE      a body parameter of the template (once per parameter)
    --attach FILE           communication route: upload FILE and send it (jpg,
                            png or gif, at most 25 MB)

CONTENT RULES (checked before anything is sent; a match is exit 2, naming the
rule and the character where it matched, never the matched text):
    Default: the words password, SSN and credit card (one character between)
    as whole words, in any case; card-number (13 to 19 digits, alone or in
    groups split by single spaces or dashes, passing the Luhn check); us-ssn
    (AAA-GG-SSSS with an area, group and serial that can be issued).
    --safety-rules FILE     replace them with FILE's rules, one a line: a
                            built-in detector's name (card-number, us-ssn) or a
                            regular expression (regex-lite syntax, matched
                            case-insensitively anywhere); blank lines and lines
                            starting with # are skipped; a bad line is exit 2
                            naming the file and the line
    --no-safety-rules       no content rules at all

SENDING:
    --metrics-file FILE     at the end of every run (failed runs too), write
                            node-exporter's textfile format to FILE, atomically:
                            genesys_inject_lines{outcome=...} (sent,
                            sent_earlier, failed, unknown, not_reached,
                            conflict, deferred, expired, suppressed, invalid),
                            genesys_inject_exit_status,
                            genesys_inject_run_duration_seconds,
                            genesys_inject_last_run_timestamp_seconds and
                            genesys_inject_last_success_timestamp_seconds (the
                            last run that exited 0, kept across failed runs).
                            A dry run writes none
    --metrics-label NAME=VALUE
                            a label on every series (repeatable): give each job
                            its own (job=reminders), never the day
    --audit-log FILE        append each injection's audit record (the JSON the
                            log carries) to FILE as one line (created 0600,
                            never through a link); a write that fails is said
                            once and fails nothing
    --no-typing             no typing indicator before the message (on the
                            communication route it costs one request a message;
                            a batch of proactive messages rarely wants it)

BATCH (many messages from one run):
    --batch FILE            send every line of FILE (JSON Lines, UTF-8, LF or
                            CRLF, a byte-order mark skipped; - reads standard
                            input); each line's keys are the flags above:
                            conversation, communication, agentless, from, to,
                            contact, new_conversation, text (a string or an array
                            of blocks), template, params (an object), attach (a
                            path relative to FILE's folder), delay_ms, and an
                            optional id (the line's identity). A line without
                            one is known by who receives it (the conversation;
                            to or contact on the agentless route) and its rank
                            among the lines to them, matched by content first:
                            reordered, re-encoded or cut short, the same lines;
                            new wording is that line with other content (said
                            once, not sent), not a new line. Every line is
                            checked first: one invalid line sends nothing (exit
                            2; past 20, the first 20 and a count)
    FILE ending in .csv     CSV instead (RFC 4180: a header row; quoted fields
                            may hold commas, quotes as \"\" and line breaks;
                            , ; or tab between cells, found from the header);
                            columns named as the keys above are those keys,
                            the others feed the template; an empty cell is no
                            value. A column named like a key the command line
                            gives (text beside a TEXT template, from beside
                            --from...) and two columns of one name are refused
    --to-column NAME, --conversation-column NAME, --contact-column NAME,
    --id-column NAME, --text-column NAME
                            the column (or JSON key) that holds each line's to
                            (conversation, contact, id, text)
    --csv-delimiter C       the CSV file's delimiter (, ; | or tab)
    --default-country CC    the country of national phone numbers (ISO 3166:
                            US, FR...); numbers lose their spaces, dots, dashes
                            and brackets and go out in E.164
    TEXT beside --batch     a template: {column} is that column's (or JSON
                            key's) value, {{ and }} are braces. With it, a JSON
                            key that is neither a line key nor a placeholder is
                            refused. A column the flags name that the header
                            lacks, or a placeholder no column fills, is said
                            once before anything is sent
    Route and content flags beside --batch (--agentless, --from, --to,
    --conversation, --communication, --contact, --new-conversation,
    --template, --attach, --delay-ms) are every line's defaults: a line's
    own key wins. (--param and --wait are not: give params in each line.)
    --skip-invalid          send the valid lines anyway; the lines skipped on
                            purpose fail nothing (exit 0 when the rest went
                            out), counted invalid
    --batch-id ID           the batch's identity (default: \"default\"): a line
                            is sent once per batch id, so re-running the same
                            lines, whatever the file, sends nothing twice. To
                            send the same content again on purpose, give a new
                            ID (the date, say). A line the batch recorded with
                            other content is not sent (said once, exit 2)
    --journal FILE          where the batch records each line just before its
                            message leaves and after (default: the state
                            directory's journal/); one file may hold many batch
                            ids and clients, each apart. A re-run sends what is
                            left, looks in the conversation for a line whose
                            answer was lost (on the communication it was sent
                            as), and sends it again only if it is proved absent
    --resend-unknown        send such a line again without looking (may duplicate)
    --keep-journals DAYS    remember a line DAYS after its last record (default
                            30): past that a line sent is forgotten (a file
                            still holding it sends it again); a line attempting
                            or unknown never is. Another batch's journal
                            untouched that long, with none, is removed
    --retry-failed          send again lines refused for good (400, 403, 404);
                            failures that can pass (401, no connected agent,
                            429, 5xx) are sent again by any re-run
    --parallel N            lines in flight at once, 1 to 64; 1 sends them one
                            after another, in order. Default: as many as keep
                            the budget busy at the round trip seen (the budget a
                            second times the round trip, a quarter more),
                            halved after a 429
    --deadline SECS         a bound on the run: no wait (429, pace, delay_ms,
                            typing, lookups) goes past SECS seconds; a line
                            that would have to wait past it is not started (not
                            reached: a re-run sends it with no flag)
    --progress              the progress line even when stderr is not a terminal
    Output: with --json, JSON Lines: one object per line (type \"line\", line,
    id, ok, message_id, and error: an object with the fields of a single
    send's error: kind, message, outcome, status, correlation_id) and a
    summary object (type \"summary\", batch_id and the counts); with
    --dry-run, each line's requests and an SMS text's encoding and segments
    (GSM-7 160/153, UCS-2 70/67), then the summary. Else a summary line
    naming the batch.
    The flags above but --batch belong to a batch: on a single message they
    are a usage error. Exit status: 0 when every line is
    sent (now or earlier); else the most serious among the lines: 5, 3 (the
    batch stops at once), 4, 1, 2. 3 lines in a row that cannot reach the
    platform stop the batch (exit 1). SIGINT or SIGTERM: said at once; no new
    line starts and every wait ends within a tenth of a second; a message
    already sent gets its answer and is recorded; the summary is printed, exit 130
    (SIGINT) or 143 (SIGTERM); a second signal ends the run at once.

WHEN AND WHETHER A LINE GOES (a batch's rules; deferred, expired and
suppressed lines exit 0):
    --sender-rate N         SMS a second from each sender number (any run,
                            shared on the state directory). Default, as
                            Genesys documents it: a NANP toll-free number 3,
                            another NANP number 1, any other number 10
    --send-window HH:MM-HH:MM
                            a line goes only while its recipient's local time
                            is inside (08:00-21:00: US federal hours; 22:00-06:00
                            spans midnight); outside it, deferred: nothing
                            recorded, a later run sends it. A line still
                            waiting (pace, 429) when its window closes is
                            deferred then. The summary says when the first
                            deferred line's window opens. A line's send_window
                            key wins
    --tz ZONE, --tz-column NAME
                            the recipient's IANA zone (America/Chicago): the
                            line's tz key (or the column), else --tz, else a
                            NANP number's area code (libphonenumber's map; an
                            area code across zones allows only the hours they
                            share); without one, the line is deferred and says
                            how to give one
    --wait-for-window       keep the run until deferred lines' window opens,
                            then send them (bounded by --deadline)
    --valid-until TIME      RFC 3339, or HH:MM today in --tz; a line past it is
                            expired: never sent, recorded (a re-run does not
                            send it); one whose wait (pace, 429) would pass it
                            expires instead of waiting. A line's valid_until
                            key wins
    --suppress FILE         recipients never sent to (repeatable): one number,
                            conversation id or contact id a line (# comments),
                            or FILE.csv with --suppress-column NAME; numbers
                            compare in E.164 (--default-country for national
                            ones). A line to one is suppressed: not sent,
                            nothing recorded
    --min-gap DURATION      (20h, 90m, 2d) a recipient who got a message from
                            this client within it, in any batch on the state
                            directory, is deferred; the directory keeps a keyed
                            hash of each recipient, never the address

JOURNAL (inject journal):
    the batches in the state directory: id, lines, count per state, last
    record; with --batch-id ID, each line of that batch: id, state, time,
    message id, recipient masked. --json: one object a line.

STATE:
    --state-dir DIR         keep the token and undelivered audit events in DIR
                            (created 0700; refused if others can write to it)
    --no-state              write nothing to disk
    Default: GENESYS_STATE_DIR if set; else on Windows
    %LOCALAPPDATA%\\genesys-inject; elsewhere $XDG_STATE_HOME/genesys-inject
    if XDG_STATE_HOME is set, else ~/Library/Application Support/genesys-inject
    on macOS and ~/.local/state/genesys-inject on Linux and other systems. If
    that default cannot be used, a warning, and the run goes on without state.
    A run posts only the waiting audit events of its own client id and
    WEBHOOK_URL; others' are left alone. An event leaves the outbox when
    the webhook answers 2xx (delivered) or a 4xx other than 408 and 429
    (refused); redirects are not followed. A run waits at most 10 s (the
    token call's timeout) for another run fetching the token.

DELIVERY:
    --wait SECS             after sending, wait up to SECS seconds for the final
                            delivery status (delivered, read, failed) and print it;
                            SECS bounds the whole wait, rate-limit pauses included
                            (the last poll may take 1 s more)
    --resolve               when the answer to the message is lost (outcome
                            unknown), look for it in the conversation and send it
                            again only if the platform proves it is not there; if
                            it cannot tell, exit 5 and send nothing more (needs
                            conversation:message:view; communication route).
                            Absent means not listed --settle-time after it was
                            sent. Worst case: a platform that lists a message
                            later than that can get 3 copies (1 + 2 resends)
    --settle-time SECS      how long the platform may take to list a message it
                            received (default 30, at most 3600): --resolve and a
                            batch's look for a line an earlier run left prove it
                            absent only that long after it was sent, and wait
                            for it (within --deadline) when they come sooner

OPTIONS:
    --rate N                pace API requests to N a minute, a ceiling (default:
                            300, the platform's budget per token, as a start the
                            platform's inin-ratelimit headers move up or down;
                            shared with every run on the same state directory
                            and token)
    --delay-ms N            wait N milliseconds before typing and sending
                            (at most 600000: ten minutes)
    --ca-file FILE          trust the root certificates of this PEM file instead of
                            the compiled-in ones (a TLS-inspecting proxy's CA);
                            default: SSL_CERT_FILE if set
    --dry-run               validate and print the exact request; no network traffic
    --json                  print the receipt, the dry run or the error as one JSON object
    -q, --quiet             print only the result or the error: no warnings,
                            no notes on standard error
    -v, --verbose           also print each retry and pause (the library's info lines)
    -h, --help              -h a short help with examples, --help this manual
    --generate KIND         print a man page (man) or a shell completion
                            (complete-bash, complete-zsh, complete-fish,
                            complete-powershell), from the same flag table
    -V, --version           print the version

ENVIRONMENT:
    GENESYS_CLIENT_ID       OAuth client-credentials client id (required to send)
    GENESYS_CLIENT_SECRET   its secret (required to send, unless...)
    GENESYS_CLIENT_SECRET_FILE
                            a file holding the secret instead (container and
                            systemd secrets); a byte-order mark and one trailing
                            line break are dropped
    GENESYS_REGION          AWS region name or domain (default us-east-1;
                            us_east_1 as well)
    GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET, GENESYSCLOUD_REGION
                            the names Genesys' own CLI and Terraform provider
                            read, used where the GENESYS_ one is not set; both
                            set to different values is exit 2 naming both
    GENESYS_BASE_URL        one base URL for token and API calls (mock platforms, gateways)
    WEBHOOK_URL             post each audit event here (set but empty: no webhook)
    GENESYS_STATE_DIR       the state directory (see STATE)
    SSL_CERT_FILE           a PEM bundle of trusted root certificates (see --ca-file)
    RUST_LOG                log filter, e.g. genesys_inject=debug; replaces -q and -v
                            (logs go to stderr; never ureq=trace in production: it
                            prints the token)

STANDARD ERROR:
    Warnings, a note when the run waits (--delay-ms of 1 s or more, --wait, a
    rate-limit pause), and the error itself, once. -q leaves only the error.
    With --json, a run that does not exit 0 also says why in one line here
    (for cron's mail); -q leaves that out too.

EXIT STATUS:
    0   sent (or dry run valid), even if printing the receipt then failed
        (that failure is reported on standard error)
    1   other failure (printing a dry run or this help included)
    2   invalid input or configuration
    3   authentication or permission refused
    4   rate limited (retries used up)
    5   outcome unknown: sent, but no answer came back; check the conversation
        before sending again (or use --resolve)
    6   --wait: delivered to the platform, but delivery to the customer failed
    75  another run of the same batch holds its journal: try again later
    130, 143  a batch stopped by SIGINT or SIGTERM (lines not reached are sent
        by the next run)
";
