"""Write fra-mini.txt: short English sentences and their French translations, in the format of the
Tatoeba pair files (manythings.org/anki's fra.txt): English TAB French TAB a third column (there an
attribution, here the name of this generator).

The sentences come from a small grammar written by hand (subject + verb + adjective or object,
affirmative or negative), so every French line is a correct translation: adjectives agree with
the subject, "je"/"ne" elide before a vowel, and "un"/"une" become "de" after a negation.

    python examples/lstm_seq2seq/make_pairs.py     # rewrites examples/lstm_seq2seq/fra-mini.txt
"""
import os

SOURCE = "generated: rnnkit examples/lstm_seq2seq/make_pairs.py"

# English subject, its "to be" and third-person flag; French subject, conjugation column, agreement
SUBJECTS = [("I", "am", False, "je", 0, "m"), ("You", "are", False, "tu", 1, "m"), ("He", "is", True, "il", 2, "m"),
            ("She", "is", True, "elle", 2, "f"), ("We", "are", False, "nous", 3, "p"),
            ("They", "are", False, "ils", 4, "p")]
VERBS = {  # French present tense: je, tu, il/elle, nous, ils
    "être": ("suis", "es", "est", "sommes", "sont"),
    "avoir": ("ai", "as", "a", "avons", "ont"),
    "aimer": ("aime", "aimes", "aime", "aimons", "aiment"),
    "voir": ("vois", "vois", "voit", "voyons", "voient"),
    "vouloir": ("veux", "veux", "veut", "voulons", "veulent"),
    "manger": ("mange", "manges", "mange", "mangeons", "mangent"),
}
ADJECTIVES = [("tired", "fatigué", "fatiguée", "fatigués"), ("happy", "heureux", "heureuse", "heureux"),
              ("ready", "prêt", "prête", "prêts"), ("sick", "malade", "malade", "malades"),
              ("busy", "occupé", "occupée", "occupés"), ("late", "en retard", "en retard", "en retard"),
              ("tall", "grand", "grande", "grands"), ("young", "jeune", "jeune", "jeunes")]
FEELINGS = [("hungry", "faim"), ("thirsty", "soif"), ("cold", "froid")]  # English "to be", French "avoir"
LIKED = [("cats", "les chats"), ("dogs", "les chiens"), ("apples", "les pommes"), ("books", "les livres"),
         ("flowers", "les fleurs")]
THINGS = [("a cat", "un", "chat"), ("a dog", "un", "chien"), ("a car", "une", "voiture"),
          ("a book", "un", "livre"), ("an apple", "une", "pomme"), ("a house", "une", "maison")]
FOODS = [("an apple", "une", "pomme"), ("bread", "du", "pain"), ("a cake", "un", "gâteau")]
ACTIONS = [("see", "sees", "voir", THINGS), ("want", "wants", "vouloir", THINGS), ("have", "has", "avoir", THINGS),
           ("eat", "eats", "manger", FOODS)]


def elide(words):
    """French elision: "je"/"ne" before a vowel become "j'"/"n'" and join the next word."""
    out = []
    for word in words:
        if out and out[-1] in ("je", "ne") and word[0] in "aeéèêiou":
            out[-1] = out[-1][0] + "'" + word
        else:
            out.append(word)
    return " ".join(out)


def sentence(words):
    text = elide(words)
    return text[0].upper() + text[1:] + "."


def english(subject, verb_words):
    return f"{subject} {' '.join(verb_words)}."


def pairs():
    result = []
    for en_subject, be, third, fr_subject, person, agreement in SUBJECTS:
        do_not = "doesn't" if third else "don't"
        form = {"m": 1, "f": 2, "p": 3}[agreement]
        for negative in (False, True):
            neg_be = [be, "not"] if negative else [be]

            def french(verb, *rest):
                conjugated = VERBS[verb][person]
                return sentence([fr_subject, "ne", conjugated, "pas", *rest] if negative
                                else [fr_subject, conjugated, *rest])

            for adjective in ADJECTIVES:
                result.append((english(en_subject, neg_be + [adjective[0]]), french("être", adjective[form])))
            for en_feeling, fr_feeling in FEELINGS:
                result.append((english(en_subject, neg_be + [en_feeling]), french("avoir", fr_feeling)))
            like = [do_not, "like"] if negative else ["likes" if third else "like"]
            for en_object, fr_object in LIKED:
                result.append((english(en_subject, like + [en_object]), french("aimer", fr_object)))
            for base, third_form, verb, objects in ACTIONS:
                en_verb = [do_not, base] if negative else [third_form if third else base]
                for en_object, article, noun in objects:
                    article = ("d'" if noun[0] in "aeiou" else "de") if negative else article
                    fr_object = article + noun if article.endswith("'") else f"{article} {noun}"
                    result.append((english(en_subject, en_verb + [en_object]), french(verb, fr_object)))
    return result


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fra-mini.txt")
    # Tatoeba's files run from the shortest English sentence to the longest
    rows = sorted(pairs(), key=lambda pair: (len(pair[0]), pair))
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for en, fr in rows:
            handle.write(f"{en}\t{fr}\t{SOURCE}\n")
    print(f"wrote {len(rows)} pairs to {path}")


if __name__ == "__main__":
    main()
