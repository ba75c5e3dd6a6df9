"""Post templates per language, topic and sentiment.

Sentiment words are clear but not trivial: some templates carry negation ("not bad",
"nicht schlecht"), some neutral ones borrow emotional words, so a bag-of-words model gets
far but not all the way. Placeholders: {team} {opponent} {player} {competition} {service}.
"""

from __future__ import annotations

SERVICE_NAMES = ("fanbase", "the fanbase app", "fanbase")

TEMPLATES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "match": {
            "positive": (
                "What a win for {team}! {player} was unreal tonight",
                "{team} absolutely brilliant against {opponent}, loved every minute",
                "Proud of {team} today. {competition} is ours to take",
                "{player} with a masterclass, {team} deserved that",
                "Not a bad day at all for {team} fans, great result",
                "Huge three points for {team}. Happy!",
            ),
            "negative": (
                "Terrible performance from {team}, {player} was awful",
                "{team} lost again. I'm done with this season",
                "Embarrassing from {team} against {opponent}, what a disaster",
                "Can't believe {team} threw that away. Worst game in {competition}",
                "Not good enough {team}, not even close",
                "{player} should never start again. Awful, {team}",
            ),
            "neutral": (
                "{team} vs {opponent} is on tonight, who are you backing?",
                "Team news: {player} starts for {team}",
                "Full time: {team} v {opponent}. Thoughts?",
                "{competition} matchday, watching {team} later",
                "Anyone know if {player} is fit for {team}'s next game?",
                "{team} result is in. Not sure what to make of it",
            ),
        },
        "service": {
            "positive": (
                "Streaming on {service} was flawless tonight, great picture",
                "Honestly {service} is worth every penny",
                "No buffering at all on {service}, love it",
            ),
            "negative": (
                "{service} buffering AGAIN during the big game. Useless",
                "Stream froze for ten minutes on {service}, so annoying",
                "Why is {service} so slow tonight? Unwatchable",
                "Thinking about cancelling {service}, the stream keeps crashing",
            ),
            "neutral": (
                "Is {service} showing the match tonight?",
                "Switched to {service} on my TV, let's see how it goes",
                "Does {service} have highlights for yesterday's games?",
            ),
        },
    },
    "de": {
        "match": {
            "positive": (
                "Was für ein Sieg für {team}! {player} heute überragend",
                "{team} einfach stark gegen {opponent}, herrlich",
                "Stolz auf {team}, verdienter Sieg in der {competition}",
                "{player} mit einem Traumtor, {team} hat es verdient",
                "Gar nicht schlecht heute, {team}. Super Ergebnis",
            ),
            "negative": (
                "Grottenschlecht von {team}, {player} komplett schwach",
                "{team} verliert schon wieder. Enttäuschend",
                "Peinlicher Auftritt von {team} gegen {opponent}, eine Katastrophe",
                "Unfassbar, wie {team} das verschenkt. Schlechtestes Spiel der {competition}",
                "Nicht gut genug, {team}. Wirklich nicht",
            ),
            "neutral": (
                "{team} gegen {opponent} heute Abend, wer gewinnt?",
                "Aufstellung: {player} beginnt bei {team}",
                "Abpfiff: {team} gegen {opponent}. Meinungen?",
                "{competition} Spieltag, schaue später {team}",
                "Ist {player} für das nächste Spiel von {team} fit?",
            ),
        },
        "service": {
            "positive": (
                "Stream auf {service} heute perfekt, tolles Bild",
                "{service} lohnt sich wirklich",
                "Kein Ruckeln auf {service}, super",
            ),
            "negative": (
                "{service} puffert schon WIEDER beim Topspiel. Nutzlos",
                "Stream zehn Minuten eingefroren auf {service}, nervig",
                "Warum ist {service} heute so langsam? Unerträglich",
                "Überlege {service} zu kündigen, der Stream stürzt ständig ab",
            ),
            "neutral": (
                "Zeigt {service} das Spiel heute?",
                "Schaue jetzt über {service} am Fernseher",
                "Hat {service} die Highlights von gestern?",
            ),
        },
    },
    "it": {
        "match": {
            "positive": (
                "Che vittoria per {team}! {player} stratosferico stasera",
                "{team} bellissima contro {opponent}, che spettacolo",
                "Orgoglioso della {team}, vittoria meritata in {competition}",
                "{player} fenomenale, {team} merita tutto",
                "Non male per niente, {team}. Grande risultato",
            ),
            "negative": (
                "Prestazione terribile di {team}, {player} disastroso",
                "{team} perde ancora. Che delusione",
                "Vergognosa {team} contro {opponent}, un disastro",
                "Incredibile come {team} butta via la partita. Peggior gara di {competition}",
                "Non all'altezza, {team}. Proprio no",
            ),
            "neutral": (
                "{team} contro {opponent} stasera, chi vince?",
                "Formazione: {player} titolare per {team}",
                "Finita: {team} - {opponent}. Commenti?",
                "Giornata di {competition}, guardo {team} dopo",
                "{player} sarà disponibile per la prossima di {team}?",
            ),
        },
        "service": {
            "positive": (
                "Streaming su {service} perfetto stasera, immagine ottima",
                "{service} vale ogni centesimo",
                "Nessun buffering su {service}, bellissimo",
            ),
            "negative": (
                "{service} si blocca DI NUOVO durante il big match. Inutile",
                "Stream fermo dieci minuti su {service}, che rabbia",
                "Perché {service} è così lento stasera? Inguardabile",
                "Sto pensando di disdire {service}, lo stream crasha sempre",
            ),
            "neutral": (
                "{service} trasmette la partita stasera?",
                "Guardo con {service} sulla TV",
                "{service} ha gli highlights di ieri?",
            ),
        },
    },
    "es": {
        "match": {
            "positive": (
                "¡Qué victoria del {team}! {player} brutal esta noche",
                "{team} brillante contra {opponent}, qué partidazo",
                "Orgulloso del {team}, victoria merecida en {competition}",
                "{player} con una exhibición, {team} lo merecía",
                "Nada mal, {team}. Gran resultado",
            ),
            "negative": (
                "Partido horrible del {team}, {player} fatal",
                "{team} pierde otra vez. Qué decepción",
                "Vergonzoso el {team} contra {opponent}, un desastre",
                "Increíble cómo el {team} lo tira. Peor partido de {competition}",
                "No es suficiente, {team}. Ni de lejos",
            ),
            "neutral": (
                "{team} contra {opponent} esta noche, ¿quién gana?",
                "Alineación: {player} titular con el {team}",
                "Final: {team} - {opponent}. ¿Opiniones?",
                "Jornada de {competition}, veré al {team} luego",
                "¿Llega {player} al próximo partido del {team}?",
            ),
        },
        "service": {
            "positive": (
                "El streaming en {service} perfecto hoy, gran imagen",
                "{service} vale cada euro",
                "Nada de cortes en {service}, me encanta",
            ),
            "negative": (
                "{service} se corta OTRA VEZ en el partidazo. Inútil",
                "Diez minutos congelado en {service}, qué rabia",
                "¿Por qué va tan lento {service} hoy? Imposible de ver",
                "Pensando en darme de baja de {service}, se cae siempre",
            ),
            "neutral": (
                "¿{service} emite el partido hoy?",
                "Viendo con {service} en la tele",
                "¿Tiene {service} los resúmenes de ayer?",
            ),
        },
    },
    "pt": {
        "match": {
            "positive": (
                "Que vitória do {team}! {player} monstruoso hoje",
                "{team} brilhante contra o {opponent}, que jogaço",
                "Orgulho do {team}, vitória merecida no {competition}",
                "{player} deu show, o {team} mereceu",
            ),
            "negative": (
                "Atuação horrível do {team}, {player} péssimo",
                "{team} perde de novo. Que decepção",
                "Vergonha o {team} contra o {opponent}, um desastre",
                "Não dá, {team}. Muito fraco",
            ),
            "neutral": (
                "{team} contra {opponent} hoje, quem ganha?",
                "Escalação: {player} começa no {team}",
                "Fim de jogo: {team} x {opponent}. Opiniões?",
                "Rodada do {competition}, vou ver o {team} mais tarde",
            ),
        },
        "service": {
            "positive": (
                "Transmissão no {service} perfeita hoje",
                "{service} vale cada centavo",
                "Nenhum travamento no {service}, adorei",
            ),
            "negative": (
                "{service} travando DE NOVO no jogão. Inútil",
                "Stream congelou dez minutos no {service}, que raiva",
                "Pensando em cancelar o {service}, cai toda hora",
            ),
            "neutral": (
                "O {service} vai passar o jogo hoje?",
                "Assistindo pelo {service} na TV",
                "O {service} tem os melhores momentos de ontem?",
            ),
        },
    },
    "ja": {
        "match": {
            "positive": (
                "{team}の勝利！{player}最高だった",
                "{team}、{opponent}相手に素晴らしい試合",
                "{team}おめでとう、{competition}で堂々の勝利",
                "{player}のプレーに感動、{team}最高",
            ),
            "negative": (
                "{team}ひどい試合、{player}は最悪",
                "{team}また負けた。がっかり",
                "{opponent}相手に{team}情けない、最悪の試合",
                "{team}、全然ダメ。{competition}で一番ひどい",
            ),
            "neutral": (
                "今夜は{team}対{opponent}、どっちが勝つ？",
                "スタメン：{player}が{team}で先発",
                "試合終了：{team}対{opponent}。どう思う？",
                "{competition}の試合、あとで{team}を見る",
            ),
        },
        "service": {
            "positive": (
                "{service}の配信、今夜は完璧",
                "{service}は本当にお得",
                "{service}で全然止まらない、最高",
            ),
            "negative": (
                "{service}また止まる、大事な試合なのに最悪",
                "{service}で10分フリーズ、イライラする",
                "{service}解約しようかな、配信が落ちてばかり",
            ),
            "neutral": (
                "{service}で今夜の試合見られる？",
                "テレビで{service}を見ています",
                "{service}に昨日のハイライトある？",
            ),
        },
    },
}
