package main

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// serviceOnlySDDL grants full control to SYSTEM (the service's account) and
// to Administrators, and to no one else; P stops inherited entries, such as
// the Users' read access of ProgramData.
const serviceOnlySDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// restrictToService sets path's access list to SYSTEM and Administrators.
func restrictToService(path string) error {
	sd, err := windows.SecurityDescriptorFromString(serviceOnlySDDL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("restrict %s to SYSTEM and Administrators: %w", path, err)
	}
	return nil
}
