package awsconfig

// The raw shapes of the AWS CLI outputs, only the fields the analysis
// uses. Pointers tell an absent field from a zero one.

type rawSecurityGroups struct {
	SecurityGroups []rawSecurityGroup
}

type rawSecurityGroup struct {
	GroupId             *string
	GroupName           string
	VpcId               string
	IpPermissions       []rawPermission
	IpPermissionsEgress []rawPermission
}

type rawPermission struct {
	IpProtocol       *string
	FromPort         *int
	ToPort           *int
	IpRanges         []struct{ CidrIp *string }
	Ipv6Ranges       []struct{ CidrIpv6 *string }
	PrefixListIds    []struct{ PrefixListId *string }
	UserIdGroupPairs []struct{ GroupId *string }
}

type rawNetworkACLs struct {
	NetworkAcls []struct {
		NetworkAclId *string
		VpcId        string
		IsDefault    bool
		Entries      []struct {
			RuleNumber    *int
			Protocol      *string
			RuleAction    *string
			Egress        *bool
			CidrBlock     *string
			Ipv6CidrBlock *string
			PortRange     *struct{ From, To *int }
			IcmpTypeCode  *struct{ Code, Type *int }
		}
		Associations []struct {
			SubnetId     *string
			NetworkAclId string
		}
	}
}

type rawRouteTables struct {
	RouteTables []struct {
		RouteTableId *string
		VpcId        string
		Associations []struct {
			Main             bool
			SubnetId         string
			GatewayId        string
			AssociationState *struct{ State string }
		}
		Routes []struct {
			DestinationCidrBlock        *string
			DestinationIpv6CidrBlock    *string
			DestinationPrefixListId     *string
			GatewayId                   string
			NatGatewayId                string
			VpcPeeringConnectionId      string
			TransitGatewayId            string
			NetworkInterfaceId          string
			InstanceId                  string
			EgressOnlyInternetGatewayId string
			LocalGatewayId              string
			CarrierGatewayId            string
			CoreNetworkArn              string
			State                       string
		}
	}
}

type rawInterfaces struct {
	NetworkInterfaces []struct {
		NetworkInterfaceId *string
		SubnetId           string
		VpcId              string
		PrivateIpAddress   string
		Association        *struct{ PublicIp string }
		PrivateIpAddresses []struct {
			PrivateIpAddress string
			Association      *struct{ PublicIp string }
		}
		Ipv6Addresses []struct{ Ipv6Address string }
		Groups        []struct{ GroupId string }
	}
}

type rawSubnets struct {
	Subnets []struct {
		SubnetId                    *string
		VpcId                       string
		CidrBlock                   string
		Ipv6CidrBlockAssociationSet []struct {
			Ipv6CidrBlock      string
			Ipv6CidrBlockState *struct{ State string }
		}
	}
}

type rawVPCs struct {
	Vpcs []struct {
		VpcId                   *string
		CidrBlock               string
		CidrBlockAssociationSet []struct {
			CidrBlock      string
			CidrBlockState *struct{ State string }
		}
		Ipv6CidrBlockAssociationSet []struct {
			Ipv6CidrBlock      string
			Ipv6CidrBlockState *struct{ State string }
		}
	}
}

type rawPrefixLists struct {
	PrefixLists []struct {
		PrefixListId   *string
		PrefixListName string
		AddressFamily  string
		OwnerId        string
	}
}

type rawPrefixListEntries struct {
	PrefixListId *string
	Entries      []struct{ Cidr *string }
}

type rawVPCInfo struct {
	VpcId            string
	CidrBlock        string
	CidrBlockSet     []struct{ CidrBlock string }
	Ipv6CidrBlockSet []struct{ Ipv6CidrBlock string }
}

type rawPeerings struct {
	VpcPeeringConnections []struct {
		VpcPeeringConnectionId *string
		Status                 *struct{ Code string }
		AccepterVpcInfo        *rawVPCInfo
		RequesterVpcInfo       *rawVPCInfo
	}
}

type rawInternetGateways struct {
	InternetGateways []struct {
		InternetGatewayId *string
		Attachments       []struct{ VpcId, State string }
	}
}

type rawNATGateways struct {
	NatGateways []struct {
		NatGatewayId     *string
		SubnetId         string
		VpcId            string
		State            string
		ConnectivityType string
	}
}

// topKeys are the top-level keys that identify a file's kind.
var topKeys = []string{
	"SecurityGroups", "NetworkAcls", "RouteTables", "NetworkInterfaces", "Subnets", "Vpcs",
	"PrefixLists", "Entries", "VpcPeeringConnections", "InternetGateways", "NatGateways",
}
