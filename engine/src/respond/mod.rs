//! Response generation without a language model (the default), and channel shaping.
//!
//! - [`select`]: the sentences of the retrieved passages that answer the question.
//! - [`offline`]: composes them (tone, agent and customer name, citations), answers memory
//!   questions, greets; says honestly when it does not know.
//! - [`templates`]: the fixed phrases in en, de, fr, es, it, pt, nl.
//! - [`channel`]: SMS, voice, e-mail, web and messenger shaping.
//! - [`spoken`]: text for the ear (dates, amounts, long numbers, short sentences).

pub mod channel;
pub mod offline;
pub mod select;
pub mod spoken;
pub mod templates;
