/**
 * English function words for METEOR's content/function weighting (delta = 0.75).
 *
 * METEOR 1.5 reads `function/english.words` from its jar: words whose relative frequency in a
 * large monolingual corpus is at least 1e-3 (Denkowski & Lavie, 2011). That file is not
 * obtainable here. We use instead the English closed-class words — articles, determiners,
 * pronouns, prepositions, conjunctions, auxiliaries and modals, and the clitic pieces METEOR's
 * normaliser produces (`'`, `s`, `'s`, `n't`, `'t`, ...) — which is what a 1e-3 frequency cut
 * on English text mostly selects. Differences from the official list change METEOR only
 * through delta: a word wrongly classed moves its weight between 0.75 and 0.25.
 */
export const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  (
    // Articles and determiners
    "a an the this that these those some any each every either neither no all both another other such " +
    "what which whose whatever whichever much many more most few fewer less least several own same " +
    // Pronouns
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers herself " +
    "it its itself we us our ours ourselves they them their theirs themselves one ones who whom " +
    "someone something somebody anyone anything anybody everyone everything everybody nobody nothing none " +
    // Prepositions
    "about above across after against along amid among around as at before behind below beneath beside " +
    "besides between beyond by down during except for from in inside into like near of off on onto " +
    "out outside over past per since than through throughout till to toward towards under underneath " +
    "until unto up upon via with within without " +
    // Conjunctions and complementisers
    "and but or nor so yet if because although though while whereas whether unless once when where " +
    "whenever wherever why how then there here " +
    // Auxiliaries and modals
    "be am is are was were been being have has had having do does did doing will would shall should " +
    "can could may might must ought " +
    // Negation, particles, frequent adverbs of degree
    "not n't 't very too also just only even still " +
    // Clitic pieces after METEOR's normaliser
    "' s 's 're 've 'll 'd 'm re ve ll d m"
  ).split(/\s+/).filter((w) => w.length > 0),
);
