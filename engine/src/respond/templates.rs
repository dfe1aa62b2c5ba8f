//! The fixed phrases of the offline responder in the languages it speaks (en, de, fr, es, it,
//! pt, nl): greetings, "I don't know" with a handoff offer, handoff confirmations, declines,
//! and the tone-dependent openers and closings. Knowledge sentences are never translated; only
//! these frames are.

use crate::config::Tone;

/// Languages with a full set of phrases; anything else falls back to English.
pub const LANGUAGES: [&str; 7] = ["en", "de", "fr", "es", "it", "pt", "nl"];

/// A phrase set for one language.
#[derive(Debug)]
pub struct Phrases {
    pub greeting: &'static str,
    pub thanks: &'static str,
    pub goodbye: &'static str,
    /// Nothing relevant in the knowledge base; offers a person.
    pub dont_know: &'static str,
    /// The conversation goes to a person now.
    pub handoff: &'static str,
    /// A blocked topic; `{topic}` is replaced.
    pub blocked_topic: &'static str,
    /// The message was only an attempt to steer the agent.
    pub injection_decline: &'static str,
    /// `{label}` is replaced by the fact's name, `{value}` by its value.
    pub memory_value: &'static str,
    pub memory_values: &'static str,
    pub memory_missing: &'static str,
    pub memory_nothing: &'static str,
    pub memory_intro: &'static str,
    /// Fact labels: name, e-mail, phone, order number, preference.
    pub labels: [&'static str; 5],
    /// Thanking the customer by name: `{name}`.
    pub thanks_name: &'static str,
    pub anything_else: &'static str,
    pub and: &'static str,
    /// E-mail salutation; `{name}` is " Dana" or empty.
    pub email_hello: &'static str,
    pub email_signoff: &'static str,
    /// Acknowledges facts the customer just gave: `{items}` ("order number 4411").
    pub noted: &'static str,
}

const EN: Phrases = Phrases {
    greeting: "Hi! I'm {agent}. How can I help you today?",
    thanks: "You're welcome! Is there anything else I can help with?",
    goodbye: "Thanks for reaching out. Have a great day!",
    dont_know: "I'm sorry, I couldn't find information about that in our knowledge base, so I don't want to guess. Would you like me to connect you with a member of our team?",
    handoff: "I'm connecting you with a member of our team. They will pick up this conversation shortly.",
    blocked_topic: "I'm sorry, but I can't help with {topic}. Is there anything else I can do for you?",
    injection_decline: "I can only help with questions about our products, orders and services.",
    memory_value: "Your {label} is {value}.",
    memory_values: "The {label}s I have for you are {value}.",
    memory_missing: "I don't have your {label} on file yet.",
    memory_nothing: "I don't have any details about you on file yet.",
    memory_intro: "Here is what I have on file for you:",
    labels: ["name", "e-mail address", "phone number", "order number", "preference"],
    thanks_name: "Thanks, {name}.",
    anything_else: "Is there anything else I can help with?",
    and: "and",
    email_hello: "Hello{name},",
    email_signoff: "Best regards,",
    noted: "I've noted your {items}.",
};

const DE: Phrases = Phrases {
    greeting: "Hallo! Ich bin {agent}. Wie kann ich Ihnen helfen?",
    thanks: "Gern geschehen! Kann ich sonst noch etwas für Sie tun?",
    goodbye: "Danke für Ihre Nachricht. Einen schönen Tag noch!",
    dont_know: "Das tut mir leid, dazu habe ich in unserer Wissensdatenbank nichts gefunden, und ich möchte nicht raten. Soll ich Sie mit einem Mitarbeiter verbinden?",
    handoff: "Ich verbinde Sie mit einem Mitarbeiter unseres Teams. Es meldet sich gleich jemand in diesem Gespräch.",
    blocked_topic: "Es tut mir leid, aber bei {topic} kann ich nicht helfen. Kann ich sonst etwas für Sie tun?",
    injection_decline: "Ich kann nur Fragen zu unseren Produkten, Bestellungen und Leistungen beantworten.",
    memory_value: "Ihre {label}: {value}.",
    memory_values: "Ihre {label}n: {value}.",
    memory_missing: "Ihre {label} habe ich noch nicht gespeichert.",
    memory_nothing: "Ich habe noch keine Angaben zu Ihnen gespeichert.",
    memory_intro: "Das habe ich zu Ihnen gespeichert:",
    labels: ["Name", "E-Mail-Adresse", "Telefonnummer", "Bestellnummer", "Präferenz"],
    thanks_name: "Danke, {name}.",
    anything_else: "Kann ich sonst noch etwas für Sie tun?",
    and: "und",
    email_hello: "Hallo{name},",
    email_signoff: "Viele Grüße",
    noted: "Ich habe mir Folgendes notiert: {items}.",
};

const FR: Phrases = Phrases {
    greeting: "Bonjour ! Je suis {agent}. Comment puis-je vous aider ?",
    thanks: "Avec plaisir ! Puis-je vous aider pour autre chose ?",
    goodbye: "Merci de nous avoir contactés. Bonne journée !",
    dont_know: "Je suis désolé, je n'ai pas trouvé d'information à ce sujet dans notre base de connaissances et je préfère ne pas deviner. Voulez-vous que je vous mette en relation avec un membre de notre équipe ?",
    handoff: "Je vous mets en relation avec un membre de notre équipe. Quelqu'un va reprendre cette conversation dans un instant.",
    blocked_topic: "Je suis désolé, mais je ne peux pas vous aider au sujet de {topic}. Puis-je faire autre chose pour vous ?",
    injection_decline: "Je peux seulement répondre aux questions sur nos produits, commandes et services.",
    memory_value: "Votre {label} : {value}.",
    memory_values: "Vos {label}s : {value}.",
    memory_missing: "Je n'ai pas encore votre {label}.",
    memory_nothing: "Je n'ai encore aucune information vous concernant.",
    memory_intro: "Voici ce que j'ai à votre sujet :",
    labels: ["nom", "adresse e-mail", "numéro de téléphone", "numéro de commande", "préférence"],
    thanks_name: "Merci, {name}.",
    anything_else: "Puis-je vous aider pour autre chose ?",
    and: "et",
    email_hello: "Bonjour{name},",
    email_signoff: "Bien cordialement,",
    noted: "J'ai bien noté : {items}.",
};

const ES: Phrases = Phrases {
    greeting: "¡Hola! Soy {agent}. ¿En qué puedo ayudarte?",
    thanks: "¡De nada! ¿Puedo ayudarte con algo más?",
    goodbye: "Gracias por escribirnos. ¡Que tengas un buen día!",
    dont_know: "Lo siento, no encontré información sobre eso en nuestra base de conocimientos y no quiero adivinar. ¿Quieres que te ponga en contacto con una persona de nuestro equipo?",
    handoff: "Te estoy poniendo en contacto con una persona de nuestro equipo. Continuará esta conversación en breve.",
    blocked_topic: "Lo siento, pero no puedo ayudarte con {topic}. ¿Hay algo más en lo que pueda ayudarte?",
    injection_decline: "Solo puedo ayudarte con preguntas sobre nuestros productos, pedidos y servicios.",
    memory_value: "Tu {label} es {value}.",
    memory_values: "Tus {label}s son {value}.",
    memory_missing: "Todavía no tengo tu {label}.",
    memory_nothing: "Todavía no tengo datos tuyos guardados.",
    memory_intro: "Esto es lo que tengo guardado sobre ti:",
    labels: ["nombre", "correo electrónico", "número de teléfono", "número de pedido", "preferencia"],
    thanks_name: "Gracias, {name}.",
    anything_else: "¿Puedo ayudarte con algo más?",
    and: "y",
    email_hello: "Hola{name}:",
    email_signoff: "Un saludo,",
    noted: "He anotado: {items}.",
};

const IT: Phrases = Phrases {
    greeting: "Ciao! Sono {agent}. Come posso aiutarti?",
    thanks: "Prego! Posso aiutarti in qualcos'altro?",
    goodbye: "Grazie per averci scritto. Buona giornata!",
    dont_know: "Mi dispiace, non ho trovato informazioni su questo nella nostra base di conoscenza e non voglio tirare a indovinare. Vuoi che ti metta in contatto con una persona del nostro team?",
    handoff: "Ti sto mettendo in contatto con una persona del nostro team. Riprenderà questa conversazione a breve.",
    blocked_topic: "Mi dispiace, ma non posso aiutarti su {topic}. Posso fare altro per te?",
    injection_decline: "Posso rispondere solo a domande sui nostri prodotti, ordini e servizi.",
    memory_value: "Il tuo {label} è {value}.",
    memory_values: "I tuoi {label}: {value}.",
    memory_missing: "Non ho ancora il tuo {label}.",
    memory_nothing: "Non ho ancora dati su di te.",
    memory_intro: "Ecco cosa ho su di te:",
    labels: ["nome", "indirizzo e-mail", "numero di telefono", "numero d'ordine", "preferenza"],
    thanks_name: "Grazie, {name}.",
    anything_else: "Posso aiutarti in qualcos'altro?",
    and: "e",
    email_hello: "Ciao{name},",
    email_signoff: "Cordiali saluti,",
    noted: "Ho preso nota: {items}.",
};

const PT: Phrases = Phrases {
    greeting: "Olá! Eu sou {agent}. Como posso ajudar?",
    thanks: "De nada! Posso ajudar em mais alguma coisa?",
    goodbye: "Obrigado pelo contato. Tenha um ótimo dia!",
    dont_know: "Desculpe, não encontrei informações sobre isso na nossa base de conhecimento e não quero adivinhar. Quer que eu o coloque em contato com alguém da nossa equipe?",
    handoff: "Estou colocando você em contato com alguém da nossa equipe. Essa pessoa continuará esta conversa em breve.",
    blocked_topic: "Desculpe, mas não posso ajudar com {topic}. Posso ajudar em mais alguma coisa?",
    injection_decline: "Só posso ajudar com perguntas sobre nossos produtos, pedidos e serviços.",
    memory_value: "O seu {label} é {value}.",
    memory_values: "Os seus {label}s são {value}.",
    memory_missing: "Ainda não tenho o seu {label}.",
    memory_nothing: "Ainda não tenho dados seus guardados.",
    memory_intro: "Isto é o que tenho guardado sobre você:",
    labels: ["nome", "e-mail", "número de telefone", "número do pedido", "preferência"],
    thanks_name: "Obrigado, {name}.",
    anything_else: "Posso ajudar em mais alguma coisa?",
    and: "e",
    email_hello: "Olá{name},",
    email_signoff: "Atenciosamente,",
    noted: "Anotei: {items}.",
};

const NL: Phrases = Phrases {
    greeting: "Hallo! Ik ben {agent}. Waarmee kan ik je helpen?",
    thanks: "Graag gedaan! Kan ik je nog ergens anders mee helpen?",
    goodbye: "Bedankt voor je bericht. Nog een fijne dag!",
    dont_know: "Het spijt me, ik heb daar niets over gevonden in onze kennisbank en ik wil niet gokken. Zal ik je doorverbinden met een medewerker van ons team?",
    handoff: "Ik verbind je door met een medewerker van ons team. Iemand neemt dit gesprek zo over.",
    blocked_topic: "Het spijt me, maar met {topic} kan ik je niet helpen. Kan ik je ergens anders mee helpen?",
    injection_decline: "Ik kan alleen vragen over onze producten, bestellingen en diensten beantwoorden.",
    memory_value: "Je {label} is {value}.",
    memory_values: "Je {label}s zijn {value}.",
    memory_missing: "Ik heb je {label} nog niet.",
    memory_nothing: "Ik heb nog geen gegevens van je.",
    memory_intro: "Dit heb ik van je genoteerd:",
    labels: ["naam", "e-mailadres", "telefoonnummer", "bestelnummer", "voorkeur"],
    thanks_name: "Bedankt, {name}.",
    anything_else: "Kan ik je nog ergens anders mee helpen?",
    and: "en",
    email_hello: "Hallo{name},",
    email_signoff: "Met vriendelijke groet,",
    noted: "Ik heb genoteerd: {items}.",
};

/// The phrases for `language` (ISO 639-1), English when the language has none.
pub fn phrases(language: &str) -> &'static Phrases {
    match language {
        "de" => &DE,
        "fr" => &FR,
        "es" => &ES,
        "it" => &IT,
        "pt" => &PT,
        "nl" => &NL,
        _ => &EN,
    }
}

/// The label of a fact key in `phrases`, or the key itself for custom keys.
pub fn label<'a>(phrases: &'a Phrases, key: &'a str) -> &'a str {
    match key {
        "name" => phrases.labels[0],
        "email" => phrases.labels[1],
        "phone" => phrases.labels[2],
        "order_number" => phrases.labels[3],
        "preference" => phrases.labels[4],
        other => other,
    }
}

/// Tells whether `text` is one of the responder's own "I don't know" replies (in any
/// language), so the escalation rule can count failed turns from the history.
pub fn is_fallback_text(text: &str) -> bool {
    LANGUAGES.iter().any(|l| {
        let phrase = phrases(l).dont_know;
        let head: String = phrase.chars().take(30).collect();
        text.contains(&head)
    })
}

/// Opening words before an answer, by tone; `name` is the customer's first name when known.
/// Only English has tone variants; other languages use the neutral "thanks" frame.
pub fn opener(tone: Tone, language: &str, name: Option<&str>) -> Option<String> {
    let p = phrases(language);
    if language != "en" {
        return name.map(|n| p.thanks_name.replace("{name}", n));
    }
    match (tone, name) {
        (Tone::Concise, _) => None,
        (Tone::Friendly, Some(n)) => Some(format!("Thanks, {n}!")),
        (Tone::Friendly, None) => Some("Happy to help!".into()),
        (Tone::Professional, Some(n)) => Some(format!("Thank you, {n}.")),
        (Tone::Professional, None) => None,
        (Tone::Casual, Some(n)) => Some(format!("Hey {n}!")),
        (Tone::Casual, None) => Some("Sure thing!".into()),
        (Tone::Empathetic, Some(n)) => Some(format!("Thanks for your patience, {n}.")),
        (Tone::Empathetic, None) => Some("Thanks for your patience.".into()),
    }
}

/// Closing words after an answer, by tone.
pub fn closing(tone: Tone, language: &str) -> Option<String> {
    let p = phrases(language);
    match tone {
        Tone::Concise | Tone::Casual => None,
        Tone::Friendly | Tone::Professional | Tone::Empathetic => Some(p.anything_else.into()),
    }
}

/// Joins values as "a, b and c" in `language`.
pub fn join_values(values: &[&str], language: &str) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} {} {last}", init.join(", "), phrases(language).and),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_own_fallback_and_it_is_recognised() {
        for language in LANGUAGES {
            let p = phrases(language);
            assert!(is_fallback_text(p.dont_know), "{language}");
            if language != "en" {
                assert_ne!(p.dont_know, EN.dont_know, "{language}");
            }
        }
        assert!(!is_fallback_text("Refunds take 5 days."));
        assert_eq!(phrases("ja").greeting, EN.greeting);
    }

    #[test]
    fn tone_changes_the_frame_not_the_facts() {
        assert_eq!(
            opener(Tone::Friendly, "en", Some("Dana")).as_deref(),
            Some("Thanks, Dana!")
        );
        assert_eq!(opener(Tone::Concise, "en", Some("Dana")), None);
        assert_eq!(
            opener(Tone::Friendly, "de", Some("Dana")).as_deref(),
            Some("Danke, Dana.")
        );
        assert_eq!(
            join_values(&["4411", "A1234", "77"], "en"),
            "4411, A1234 and 77"
        );
    }
}
