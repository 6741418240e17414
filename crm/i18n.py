"""Flask-AppBuilder strings whose Polish translation we supply ourselves.

FAB's Polish catalog is incomplete and partly wrong (its "Sign In" reads
"Zarejestruj się", i.e. "Register"). Our catalogs are loaded after FAB's and
override them; listing the msgids here puts them in ``pybabel extract``'s output,
so the catalog test sees a missing one.
"""

from flask_babel import lazy_gettext as _l

FAB_MSGIDS_WE_TRANSLATE = (
    # wrong in FAB's Polish catalog
    _l("Sign In"),
    _l("Sign in using:"),
    _l("Login"),
    _l("Logout"),
    _l("Added Row"),
    _l("Changed Row"),
    _l("Deleted Row"),
    _l("Associated data exists, please delete them first"),
    _l("Integrity error, probably unique constraint"),
    _l("Count of"),
    _l("Record Count"),
    _l("Login count"),
    _l("Failed login count"),
    _l("Your user information"),
    _l("Reset my password"),
    _l("Reset Password"),
    _l("Please use a good password policy, this application does not check this for you"),
    _l("Enter your login and password below"),
    _l("Invalid login. Please try again."),
    _l("Edit record"),
    _l("Equal to"),
    _l("Not Equal to"),
    _l("Start with"),
    _l("Starts with"),
    _l("Ends with"),
    _l("Not Ends with"),
    _l("Not Starts with"),
    _l("Access is Denied"),
    # missing from FAB's Polish catalog
    _l("Database Error"),
    _l("Select Value"),
    _l("Contains (insensitive)"),
    _l("In"),
    _l("Not In"),
    _l("List Groups"),
    _l("Edit User Information"),
    _l("User information changed"),
    _l("Groups"),
    _l("The user's password for authentication"),
    _l("User(s) exists in the role, cannot delete"),
    _l("Show Group"),
    _l("Add Group"),
    _l("Edit Group"),
    _l("User(s) exists in the group, cannot delete"),
    _l("Order by"),
    _l("Add"),
    _l("Edit"),
    _l("Show"),
    _l("Delete"),
    _l("Are you sure you want to delete this item?"),
    _l("Detail"),
    _l("Either select a role or a group"),
)
