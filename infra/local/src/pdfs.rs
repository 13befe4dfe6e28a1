//! PDFs made for the tests and the samples: French prose with accents over several pages (Helvetica with
//! WinAnsiEncoding, as office tools write it), and a "scanned" handout with no text at all.

use lopdf::{
    Document, Object, Stream,
    content::{Content, Operation},
    dictionary,
};

/// Sentences of a short French course on starting a business; every one is quotable.
pub const COURSE: &[&str] = &[
    "Le plan d'affaires présente le projet, le marché visé, l'équipe et les besoins de financement de l'entreprise.",
    "La trésorerie mesure l'argent réellement disponible à court terme pour payer les fournisseurs et les salaires.",
    "Une étude de marché décrit les clients potentiels, leurs habitudes d'achat et les concurrents déjà installés.",
    "Le seuil de rentabilité est le chiffre d'affaires à partir duquel l'entreprise couvre toutes ses charges.",
    "Les charges fixes, comme le loyer ou l'assurance, restent identiques quel que soit le volume des ventes.",
    "Les charges variables, comme les matières premières, augmentent avec chaque produit fabriqué et vendu.",
    "Au Gabon, l'immatriculation d'une entreprise se fait auprès du guichet unique de l'Agence nationale de promotion des investissements.",
    "Le microcrédit permet aux petits entrepreneurs d'obtenir un premier financement sans garantie importante.",
    "Une coopérative réunit des producteurs qui mettent en commun leurs moyens pour vendre à meilleur prix.",
    "La marge brute correspond à la différence entre le prix de vente et le coût d'achat des marchandises.",
    "Le bilan photographie le patrimoine de l'entreprise à une date donnée, avec ses actifs et ses dettes.",
    "Le compte de résultat retrace les produits et les charges de l'exercice pour calculer le bénéfice.",
    "Une bonne négociation avec les fournisseurs améliore les délais de paiement et soulage la trésorerie.",
    "La fidélisation coûte souvent moins cher que la conquête de nouveaux clients, surtout sur un petit marché.",
    "Le statut d'entreprenant offre aux activités débutantes un régime simplifié de déclaration et de comptabilité.",
    "La facture doit mentionner la date, l'identité du client, la désignation des produits et le montant à payer.",
    "Un tableau de bord suit chaque mois quelques indicateurs clés comme les ventes, la marge et la trésorerie.",
    "La publicité sur les réseaux sociaux touche les jeunes clients de Libreville à un coût très modeste.",
    "L'épargne personnelle du fondateur rassure la banque, qui finance rarement la totalité d'un projet.",
    "La délégation de certaines tâches libère du temps pour la prospection commerciale et la stratégie.",
    "Le prévisionnel estime les ventes et les dépenses des trois premières années de l'activité.",
    "Une assurance responsabilité civile protège l'entreprise contre les dommages causés à des tiers.",
    "Le fonds de roulement finance le décalage entre les paiements des clients et ceux des fournisseurs.",
    "La concurrence informelle oblige les entreprises déclarées à soigner la qualité et le service après-vente.",
    "Un mentor expérimenté aide le créateur à éviter les erreurs fréquentes des premières années.",
    "L'innovation ne se limite pas à la technologie : un nouveau service ou une nouvelle distribution comptent aussi.",
    "La signature d'un contrat écrit limite les litiges avec les partenaires, les clients et les salariés.",
    "Le recrutement du premier salarié impose une déclaration à la Caisse nationale de sécurité sociale.",
    "La diversification des clients réduit la dépendance envers un acheteur unique et protège le chiffre d'affaires.",
    "Une entreprise durable respecte l'environnement, ses salariés et la communauté qui l'entoure.",
];

/// A handout of `pages` pages of French prose (the course sentences, in turn).
pub fn french_handout(pages: usize) -> Vec<u8> {
    let per_page = 10;
    let pages: Vec<Vec<String>> = (0..pages)
        .map(|p| {
            let mut lines = vec![
                format!("Créer son entreprise — chapitre {}", p + 1),
                String::new(),
            ];
            for i in 0..per_page {
                let sentence = COURSE[(p * per_page + i) % COURSE.len()];
                lines.extend(wrap(sentence, 85));
                lines.push(String::new());
            }
            lines
        })
        .collect();
    text_pdf(&pages)
}

/// A PDF whose pages hold only drawings, as a scan holds only an image: no text to extract.
pub fn scanned_handout(pages: usize) -> Vec<u8> {
    build(pages, |_| {
        let mut operations = Vec::new();
        for row in 0..40 {
            operations.push(Operation::new(
                "re",
                vec![
                    50.into(),
                    (780 - row * 18).into(),
                    (300 + row * 5).into(),
                    8.into(),
                ],
            ));
            operations.push(Operation::new("f", vec![]));
        }
        operations
    })
}

/// A PDF with the given lines on each page.
pub fn text_pdf(pages: &[Vec<String>]) -> Vec<u8> {
    build(pages.len(), |p| {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 790.into()]),
        ];
        for line in &pages[p] {
            operations.push(Operation::new(
                "Tj",
                vec![Object::String(win_ansi(line), lopdf::StringFormat::Literal)],
            ));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        operations
    })
}

fn build(pages: usize, page: impl Fn(usize) -> Vec<Operation>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for p in 0..pages {
        let content = Content {
            operations: page(p),
        };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("content encodes"),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => pages as i64,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("the PDF saves");
    bytes
}

/// WinAnsiEncoding: Latin-1 for accented letters, plus the few typographic characters it adds.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{2019}' => 0x92,
            '\u{2014}' => 0x97,
            '\u{2013}' => 0x96,
            '\u{153}' => 0x9c,
            '\u{20ac}' => 0x80,
            c if (c as u32) < 256 => c as u8,
            _ => b'?',
        })
        .collect()
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("a line");
        if !line.is_empty() && line.chars().count() + word.chars().count() + 1 > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
