/*
 * The key set of fuzz_jwt, fuzz/jwks-fixture.json as a C string; both are
 * written by fuzz/make-seeds.pl.
 */

static const char  jwks_fixture[] =
    "{\"keys\":[{\"alg\":\"RS256\",\"e\":\"AQAB\",\"kid\":\"rsa1\",\"kty\":\"R"
    "SA\",\"n\":\"jFUYs0k-WJCAOFwDXLrbHBG8bYL2c5VbLhr2gZjknFIfqpj"
    "ZOSN-5khFNzt39Zgqa-giUqhoMeX_5-UT6hZOnj5FcUd3etwBPPNMYC-"
    "V2XoaN2sdA4N4771o_NOeDLLKEakUdTTjkGxvwUlCqvaMV98XRWhKWOy"
    "c-7puclgHjT7Iapd3XbpGU3aKsnIbYBkpZEw6Ggy-_lVHhYm9v2ZQ_F7"
    "VzpkLsaDz9PGYWxLBGmpAEUq-csPJK0bBQcNIMytjkfV59QdxR0ymi60"
    "TWHfYkGJXvpVg3xMoHj6dfbUcSBNnnHZpwoaVpHsFBdjCM8cZZSWnxAg"
    "f-UfRxc97N243Xw\",\"use\":\"sig\"},{\"crv\":\"P-256\",\"kid\":\"ec1\""
    ",\"kty\":\"EC\",\"x\":\"BR5z7uEUDaiXP6eHN9J2ZVrak036TxX0XrFaUDG"
    "2s6I\",\"y\":\"43T3rZg3r12_MuEEV3bMKr6WU-EmIkPqdsdU8Aokh3k\"}"
    "]}";
