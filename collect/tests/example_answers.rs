//! The example answers file used by the README's offline round trip stays valid.

#[test]
fn the_example_answers_file_is_a_valid_sipas_form() {
    let text = include_str!("../examples/answers-sipas.json");
    let answers: schema::Answers = serde_json::from_str(text).expect("a JSON object");
    let q = schema::builtin::sipas();
    if let Err(errors) = schema::validate(q, &answers) {
        panic!("{errors:?}");
    }
}
